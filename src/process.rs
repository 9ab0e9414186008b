//! `imgforge process <operation> <input> <output>`: the local engine from the command line.

use std::path::PathBuf;

use clap::Args;

use crate::config::Settings;

#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Operation: remove-bg, change-bg, create-character, resize, convert.
    pub operation: String,
    /// Input file or folder.
    pub input: PathBuf,
    /// Output file or folder.
    pub output: PathBuf,
}

pub async fn run(settings: &Settings, args: &ProcessArgs) -> anyhow::Result<()> {
    let _ = (settings, args);
    anyhow::bail!("imgforge process is not built yet")
}
