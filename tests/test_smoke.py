"""The README's main command works on the bundled sample."""

from conftest import SAMPLE_NOW


def test_dry_run_on_sample(cli, sample_store):
    result = cli("sweep", "run", "--dry-run", "--now", SAMPLE_NOW)
    assert result.exit_code == 0, result.output
    assert "would move 69 of 300" in result.stdout
