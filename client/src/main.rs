//! The `pqreg` command.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("pqreg: not built yet (see issue: the client)")
}
