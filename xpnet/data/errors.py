"""The one error type of the data side: a file that is not what its format promises."""


class DataFormatError(ValueError):
    """A data file is truncated, has the wrong magic number, a label out of range or a
    corrupt image. The message names the file and what is wrong.

    Example:
        >>> raise DataFormatError("train-labels-idx1-ubyte: wrong magic number 0x1234")
        Traceback (most recent call last):
        ...
        xpnet.data.errors.DataFormatError: train-labels-idx1-ubyte: wrong magic number 0x1234
    """
