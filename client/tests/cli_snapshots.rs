//! What users see, as reviewed snapshots (the way rage tests its CLI): every command's
//! `--help` (`cmd/help.md`) and the text and JSON output, messages and exit codes of
//! commands that need no registry (`cmd/*.toml`, output in the `.stdout`/`.stderr` files
//! next to each). A change in what the CLI prints fails here until the snapshot is
//! updated: `TRYCMD=overwrite cargo test -p pqreg --test integration cli_snapshots::`, then review the
//! diff like any other change.

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new()
        .case("tests/cmd/*.toml")
        .case("tests/cmd/*.md");
}
