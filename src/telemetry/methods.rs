//! The gRPC methods this server answers, read once from the descriptor sets it serves by
//! reflection. Metric labels use these names only: a caller inventing paths must not be able
//! to create new time series.

use std::collections::HashMap;
use std::sync::LazyLock;

use prost::Message;

/// One known method.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    /// `package.Service/Method`, the OpenTelemetry RPC span name.
    pub name: &'static str,
    /// The server streams its response (the call stays open while it does).
    pub server_streaming: bool,
}

/// Label of every path that is not a known method.
pub const UNKNOWN: Method = Method {
    name: "unknown",
    server_streaming: false,
};

static METHODS: LazyLock<HashMap<String, Method>> = LazyLock::new(|| {
    let sets = [
        crate::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = HashMap::new();
    for set in sets {
        let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
            continue;
        };
        for file in set.file {
            let package = file.package();
            for service in &file.service {
                for method in &service.method {
                    let name = format!("{package}.{}/{}", service.name(), method.name());
                    let path = format!("/{name}");
                    let name: &'static str = Box::leak(name.into_boxed_str());
                    methods.insert(
                        path,
                        Method {
                            name,
                            server_streaming: method.server_streaming(),
                        },
                    );
                }
            }
        }
    }
    methods
});

/// The method served at `path` (`/package.Service/Method`), or [`UNKNOWN`].
pub fn lookup(path: &str) -> Method {
    METHODS.get(path).copied().unwrap_or(UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_and_their_streaming() {
        let cover = lookup("/imgforge.v1.CoverService/GenerateCover");
        assert_eq!(cover.name, "imgforge.v1.CoverService/GenerateCover");
        assert!(cover.server_streaming);
        let resize = lookup("/imgforge.v1.UtilityService/Resize");
        assert!(!resize.server_streaming);
        assert_eq!(
            lookup("/grpc.health.v1.Health/Check").name,
            "grpc.health.v1.Health/Check"
        );
        assert_eq!(lookup("/made.Up/Path").name, "unknown");
    }
}
