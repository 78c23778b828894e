//! `cargo xtask`: the project's automation (see README).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
