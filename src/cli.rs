//! The command line.

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
            Command::Config { .. } => CliOverrides::default(),
        }
    }
}
