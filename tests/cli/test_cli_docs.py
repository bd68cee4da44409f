"""docs/cli.md documents every setting of ``xpnet train``: the options table cannot fall
behind the RunConfig schema."""

from pathlib import Path

from xpnet.train.config import settings

CLI_MD = Path(__file__).parents[2] / "docs" / "cli.md"


def test_every_setting_has_a_row_in_the_options_table():
    text = CLI_MD.read_text(encoding="utf-8")
    table = text[text.index("### Options"):text.index("### A TOML config")]
    flags = [("--no-" if s.kind == "bool" else "--") + s.name.replace("_", "-")
             for s in settings()]
    missing = [f for f in flags if f"`{f}" not in table]
    assert not missing, f"docs/cli.md lacks options {missing}"
