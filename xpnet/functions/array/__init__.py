"""Array ops: shape changes, indexing, joining, padding and casts (no arithmetic)."""

from xpnet.functions.array.astype import astype
from xpnet.functions.array.broadcast_to import broadcast_to
from xpnet.functions.array.concat import concat
from xpnet.functions.array.flatten import flatten
from xpnet.functions.array.getitem import getitem
from xpnet.functions.array.pad import pad
from xpnet.functions.array.reshape import reshape
from xpnet.functions.array.transpose import transpose

__all__ = [
    "astype",
    "broadcast_to",
    "concat",
    "flatten",
    "getitem",
    "pad",
    "reshape",
    "transpose",
]
