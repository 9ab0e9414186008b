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

#[tokio::test]
async fn health_reports_a_status_per_service() {
    let server = TestServer::start().await;
    assert_eq!(health(&server, "").await, ServingStatus::Serving);
    assert_eq!(
        health(&server, "imgforge.v1.UtilityService").await,
        ServingStatus::Serving
    );
    for service in SERVICES {
        let status = health(&server, service).await;
        assert!(
            matches!(status, ServingStatus::Serving | ServingStatus::NotServing),
            "{service}: {status:?}"
        );
    }
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
