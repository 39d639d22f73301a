//! The `pqreg-registry` binary.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("pqreg-registry: not built yet (see issue: the registry)")
}
