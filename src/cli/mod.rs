//! The command line.

pub mod models;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{CliOverrides, ServerOverrides};

#[derive(Debug, Parser)]
#[command(
    name = "imgforge",
    version,
    about = "Self-hostable gRPC image-processing service"
)]
pub struct Cli {
    /// Configuration file (TOML); layered over the embedded defaults.
    #[arg(long, global = true, env = "IMGFORGE_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up and matched once: the size of the `process` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server and the REST bridge.
    Serve {
        /// gRPC listen address (overrides server.grpc_addr).
        #[arg(long)]
        grpc_addr: Option<SocketAddr>,
        /// HTTP listen address (overrides server.http_addr).
        #[arg(long)]
        http_addr: Option<SocketAddr>,
    },
    /// Print the effective configuration, secrets redacted.
    Config {
        /// Print the embedded defaults instead.
        #[arg(long)]
        defaults: bool,
    },
    /// Manage the local engine's model files.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Run a local operation on files or folders, without a server.
    Process(crate::process::ProcessArgs),
}

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Every model the engine knows, and whether it is installed and intact.
    List,
    /// Download models from their official locations and check their sha256.
    Fetch {
        /// Model names; none fetches the default models.
        names: Vec<String>,
        /// Fetch every known model.
        #[arg(long)]
        all: bool,
    },
    /// Check the sha256 of installed models.
    Verify {
        /// Model names; none verifies every installed model.
        names: Vec<String>,
    },
}

impl Command {
    pub fn overrides(&self) -> CliOverrides {
        match self {
            Command::Serve {
                grpc_addr,
                http_addr,
            } => CliOverrides {
                server: Some(ServerOverrides {
                    grpc_addr: *grpc_addr,
                    http_addr: *http_addr,
                }),
            },
            Command::Config { .. } | Command::Models { .. } | Command::Process(_) => {
                CliOverrides::default()
            }
        }
    }
}
