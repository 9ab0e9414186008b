//! The gRPC surface: health per service, reflection, and clear answers for operations no
//! configured provider runs.

mod common;

use common::TestServer;
use imgforge::proto::v1 as pb;
use tokio_stream::StreamExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const SERVICES: [&str; 5] = [
    "imgforge.v1.EditingService",
    "imgforge.v1.UtilityService",
    "imgforge.v1.CharacterService",
    "imgforge.v1.CoverService",
    "imgforge.v1.PortraitService",
];

async fn health(server: &TestServer, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(server.channel().await);
    let reply = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health answers")
        .into_inner();
    ServingStatus::try_from(reply.status).unwrap()
}

/// Each service's status, in [`SERVICES`] order.
async fn statuses(server: &TestServer) -> Vec<(&'static str, ServingStatus)> {
    let mut statuses = Vec::new();
    for service in SERVICES {
        statuses.push((service, health(server, service).await));
    }
    statuses
}

/// What the embedded defaults give, whether ONNX Runtime is installed or not: the local
/// provider alone, with no models in `models.dir`. Resize and convert need no model, so
/// utility serves; background removal, change background and create character need the
/// segmentation model; no default provider runs clothes, expand, fix, watermark, covers or
/// portraits.
#[tokio::test]
async fn health_on_the_embedded_defaults_serves_only_what_needs_no_model() {
    let defaults = imgforge::config::Settings::embedded();
    assert!(
        !defaults.models.dir.join("u2netp.onnx").exists(),
        "{} must hold no model for this test",
        defaults.models.dir.display()
    );
    let server = TestServer::start().await;
    assert_eq!(health(&server, "").await, ServingStatus::Serving);
    assert_eq!(
        statuses(&server).await,
        [
            // Expand runs on patch synthesis alone, so Editing serves without any model.
            ("imgforge.v1.EditingService", ServingStatus::Serving),
            ("imgforge.v1.UtilityService", ServingStatus::Serving),
            ("imgforge.v1.CharacterService", ServingStatus::NotServing),
            ("imgforge.v1.CoverService", ServingStatus::NotServing),
            ("imgforge.v1.PortraitService", ServingStatus::NotServing),
        ]
    );
    server.stop().await;
}

/// With the segmentation model installed, editing and character serve exactly when ONNX
/// Runtime loads (in CI it must).
#[tokio::test]
async fn health_with_the_models_installed_follows_onnx_runtime() {
    let Some(dir) = common::models_dir() else {
        return;
    };
    let mut models = imgforge::config::Settings::embedded().models;
    models.dir = dir.clone();
    let with_runtime = match imgforge::providers::local::models::runtime::library(&models) {
        Ok(_) => ServingStatus::Serving,
        Err(e) => {
            common::unavailable(format_args!(
                "ONNX Runtime cannot be loaded ({})",
                e.message
            ));
            ServingStatus::NotServing
        }
    };
    let server = TestServer::start_with(|s| s.models.dir = dir).await;
    assert_eq!(health(&server, "").await, ServingStatus::Serving);
    assert_eq!(
        statuses(&server).await,
        [
            ("imgforge.v1.EditingService", with_runtime),
            ("imgforge.v1.UtilityService", ServingStatus::Serving),
            ("imgforge.v1.CharacterService", with_runtime),
            ("imgforge.v1.CoverService", ServingStatus::NotServing),
            ("imgforge.v1.PortraitService", with_runtime),
        ]
    );
    server.stop().await;
}

async fn reflect(server: &TestServer, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(server.channel().await);
    let outbound = tokio_stream::iter([ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    }]);
    let mut inbound = client
        .server_reflection_info(outbound)
        .await
        .unwrap()
        .into_inner();
    inbound
        .next()
        .await
        .expect("one reply")
        .expect("reply ok")
        .message_response
        .expect("message")
}

#[tokio::test]
async fn reflection_lists_and_describes_every_service() {
    let server = TestServer::start().await;
    let MessageResponse::ListServicesResponse(list) =
        reflect(&server, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in SERVICES.iter().copied().chain(["grpc.health.v1.Health"]) {
        assert!(names.contains(&service), "{service} missing from {names:?}");
    }
    // `grpcurl describe` needs the file of each symbol, with its dependencies.
    let MessageResponse::FileDescriptorResponse(files) = reflect(
        &server,
        MessageRequest::FileContainingSymbol("imgforge.v1.CoverService".to_owned()),
    )
    .await
    else {
        panic!("expected file descriptors");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn unsupported_operation_names_operation_and_providers_tried() {
    let server = TestServer::start().await;
    let mut client = pb::editing_service_client::EditingServiceClient::new(server.channel().await);
    // Change clothes has no local engine (fix, which this test used before, now has one).
    let unread = || {
        Some(pb::ImageInput {
            source: Some(pb::image_input::Source::Data(b"not even read".to_vec())),
        })
    };
    let status = client
        .change_clothes(pb::ChangeClothesRequest {
            person_image: unread(),
            top_garment: unread(),
            ..Default::default()
        })
        .await
        .expect_err("no provider runs change clothes locally");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(
        status.message().contains("change_clothes"),
        "{}",
        status.message()
    );
    assert!(status.message().contains("local"), "{}", status.message());

    let res = server
        .http
        .post(server.url("/change_cloth"))
        .json(&serde_json::json!({
            "person_image_url": "https://example.com/a.jpg",
            "top_garment_url": "https://example.com/b.jpg"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body.to_string().contains("change_clothes"), "{body}");
    server.stop().await;
}
