//! `imgforge models list | fetch | verify`.

use crate::cli::ModelsAction;
use crate::config::Settings;

pub async fn run(settings: &Settings, action: &ModelsAction) -> anyhow::Result<()> {
    let _ = (settings, action);
    anyhow::bail!("imgforge models is not built yet")
}
