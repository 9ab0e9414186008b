//! Code generated from `proto/` by build.rs; never edited by hand.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod v1 {
    tonic::include_proto!("imgforge.v1");
}

/// The encoded descriptor set of every proto file, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("imgforge_descriptor");
