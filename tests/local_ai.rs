//! The local AI engine end to end: remove background, change background and create
//! character through gRPC and REST, on real photos and the real u2netp model.

mod common;

use common::{FileServer, TestServer, decode, inline as input};
use imgforge::proto::v1 as pb;
use pb::image_output::Location;

fn data_of(image: &pb::ImageOutput) -> Vec<u8> {
    match &image.location {
        Some(Location::Data(bytes)) => bytes.clone(),
        other => panic!("expected inline data, got {other:?}"),
    }
}

macro_rules! server_with_models {
    () => {
        match TestServer::with_models(|s| s.fetch.allow = vec!["127.0.0.1/32".into()]).await {
            Some(server) => server,
            None => return,
        }
    };
}

async fn editing(
    server: &TestServer,
) -> pb::editing_service_client::EditingServiceClient<tonic::transport::Channel> {
    pb::editing_service_client::EditingServiceClient::new(server.channel().await)
        .max_decoding_message_size(64 << 20)
}

#[tokio::test]
async fn remove_background_cuts_out_the_astronaut() {
    let photo = photo!("astronaut.png");
    let server = server_with_models!();
    let reply = editing(&server)
        .await
        .remove_background(pb::RemoveBackgroundRequest {
            image: input(photo),
            ..Default::default()
        })
        .await
        .expect("remove background succeeds")
        .into_inner();
    let task = reply.task.unwrap();
    assert_eq!(task.status, pb::TaskStatus::Succeeded as i32);
    assert_eq!(task.provider, "local");
    let image = reply.image.unwrap();
    assert_eq!(image.media_type, "image/png");
    let cutout = decode(&data_of(&image)).to_rgba8();
    assert_eq!(cutout.dimensions(), (512, 512));
    // The sky-blue backdrop top right is gone; the astronaut's face stays.
    assert_eq!(
        cutout.get_pixel(500, 10).0[3],
        0,
        "background is transparent"
    );
    assert_eq!(cutout.get_pixel(200, 150).0[3], 255, "the face is opaque");
    server.stop().await;
}

#[tokio::test]
async fn remove_background_options_mask_solid_crop_and_refinement() {
    let photo = photo!("astronaut.png");
    let server = server_with_models!();
    let mut client = editing(&server).await;
    let call = |mode: pb::CutoutMode, color: &str, crop: bool, refine: pb::EdgeRefinement| {
        pb::RemoveBackgroundRequest {
            image: input(photo.clone()),
            mode: mode as i32,
            background_color: color.to_owned(),
            crop_to_subject: crop,
            crop_margin: 8,
            refine: refine as i32,
            ..Default::default()
        }
    };
    let mask = client
        .remove_background(call(
            pb::CutoutMode::Mask,
            "",
            false,
            pb::EdgeRefinement::None,
        ))
        .await
        .unwrap()
        .into_inner();
    let mask = decode(&data_of(&mask.image.unwrap()));
    assert!(
        matches!(mask, image::DynamicImage::ImageLuma8(_)),
        "mask is grayscale"
    );

    let solid = client
        .remove_background(call(
            pb::CutoutMode::SolidBackground,
            "#00ff00",
            false,
            pb::EdgeRefinement::AlphaMatting,
        ))
        .await
        .unwrap()
        .into_inner();
    let solid = decode(&data_of(&solid.image.unwrap())).to_rgba8();
    assert_eq!(&solid.get_pixel(500, 10).0[..3], &[0, 255, 0]);

    let cropped = client
        .remove_background(call(
            pb::CutoutMode::Cutout,
            "",
            true,
            pb::EdgeRefinement::GuidedFilter,
        ))
        .await
        .unwrap()
        .into_inner()
        .image
        .unwrap();
    assert!(
        cropped.width < 512 || cropped.height < 512,
        "cropped to the subject"
    );

    let status = client
        .remove_background(pb::RemoveBackgroundRequest {
            image: input(photo.clone()),
            output: Some(pb::OutputOptions {
                format: pb::ImageFormat::Jpeg as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    let status = client
        .remove_background(pb::RemoveBackgroundRequest {
            image: input(photo),
            model: "no-such-model".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        status.message().contains("no-such-model"),
        "{}",
        status.message()
    );
    server.stop().await;
}

/// The reply's shape is the conformance suite's; here, that u2netp finds something to cut
/// out of photos without a person.
#[tokio::test]
async fn rest_remove_bg_cuts_out_non_people_too() {
    for name in ["chelsea.png", "coffee.png"] {
        if common::testdata(name).is_none() {
            return;
        }
    }
    let files = FileServer::start().await;
    let server = server_with_models!();
    for name in ["chelsea.png", "coffee.png"] {
        let res = server
            .http
            .post(server.url("/remove_bg"))
            .json(&serde_json::json!({ "image_url": files.url(&format!("/files/{name}")) }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{name}");
        let body: serde_json::Value = res.json().await.unwrap();
        let url = body["results"][0]["url"].as_str().unwrap();
        let png = decode(&common::data_uri_bytes(url)).to_rgba8();
        let transparent = png.pixels().filter(|p| p.0[3] == 0).count();
        assert!(
            transparent > png.len() / 4 / 20,
            "{name}: some background removed"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn change_background_composites_n_distinct_results() {
    let base = photo!("astronaut.png");
    let background = photo!("hubble_deep_field.jpg");
    let server = server_with_models!();
    let reply = editing(&server)
        .await
        .change_background(pb::ChangeBackgroundRequest {
            base_image: input(base),
            ref_image: input(background),
            ref_prompt: "a starry sky".into(),
            n: Some(3),
            shadow: true,
            ..Default::default()
        })
        .await
        .expect("change background succeeds")
        .into_inner();
    assert_eq!(reply.images.len(), 3);
    let task = reply.task.unwrap();
    assert_eq!(task.metrics.unwrap().total, 3);
    assert!(
        task.notes.iter().any(|n| n.contains("ref_prompt")),
        "the reply says the prompt was not used: {:?}",
        task.notes
    );
    let images: Vec<_> = reply
        .images
        .iter()
        .map(|i| decode(&data_of(i)).to_rgb8())
        .collect();
    assert_eq!(
        images[0].dimensions(),
        (512, 512),
        "the canvas keeps the base size"
    );
    assert!(images[0] != images[1], "variants 1 and 2 differ");
    assert!(images[1] != images[2], "variants 2 and 3 differ");
    // The astronaut's face is still there, the blue backdrop is not.
    let corner = images[0].get_pixel(500, 10).0;
    assert!(
        !(corner[2] > 150 && corner[0] < 100),
        "backdrop replaced: {corner:?}"
    );
    server.stop().await;
}

async fn create_character_rest(
    server: &TestServer,
    file_name: &str,
    bytes: Vec<u8>,
    preset: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "photo",
        reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()),
    );
    if let Some(preset) = preset {
        form = form.text("style_preset", preset.to_owned());
    }
    let res = server
        .http
        .post(server.url("/create-character"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn rest_create_character_in_every_preset() {
    let photo = photo!("astronaut.jpg");
    let server = server_with_models!();
    let mut outputs = Vec::new();
    for preset in [None, Some("cartoon"), Some("watercolor")] {
        let (status, body) = create_character_rest(&server, "kid.jpg", photo.clone(), preset).await;
        assert_eq!(status, 200, "{preset:?}: {body}");
        assert_eq!(body["code"], 0);
        assert_eq!(body["desc"], "success");
        let url = body["message"]["character_image_url"].as_str().unwrap();
        assert_eq!(
            Some(url),
            body["message"]["character_image_base64"].as_str()
        );
        let character = decode(&common::data_uri_bytes(url)).to_rgba8();
        assert_eq!(
            character.get_pixel(505, 5).0[3],
            0,
            "background transparent"
        );
        outputs.push(character);
    }
    assert!(outputs[0] != outputs[1], "default and cartoon differ");
    assert!(outputs[1] != outputs[2], "cartoon and watercolor differ");
    server.stop().await;
}

/// Style presets, non-images, oversize photos and a missing photo are the conformance
/// suite's; these are the local engine's own refusals.
#[tokio::test]
async fn rest_create_character_refuses_gifs_and_photos_without_a_person() {
    let gif = photo!("no_time_for_that_tiny.gif");
    let server = server_with_models!();
    let (status, body) = create_character_rest(&server, "a.gif", gif, None).await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("只支持 JPG、PNG"),
        "{body}"
    );

    // A flat grey picture has no subject to turn into a character.
    let flat = image::RgbImage::from_pixel(256, 256, image::Rgb([128, 128, 128]));
    let png = common::encode(&flat.into(), image::ImageFormat::Png);
    let (status, body) = create_character_rest(&server, "flat.png", png, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("no person"),
        "{body}"
    );
    server.stop().await;
}

/// A `cartoon` character of `photo` through gRPC.
async fn cartoon_character(
    server: &TestServer,
    photo: Vec<u8>,
) -> Result<pb::CreateCharacterResponse, tonic::Status> {
    pb::character_service_client::CharacterServiceClient::new(server.channel().await)
        .max_decoding_message_size(64 << 20)
        .create_character(pb::CreateCharacterRequest {
            photo: input(photo),
            style_preset: pb::StylePreset::Cartoon as i32,
            output: None,
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn grpc_create_character_fits_large_photos_inside_1024() {
    let photo = photo!("large_4000x3000.jpg");
    let server = server_with_models!();
    let reply = cartoon_character(&server, photo)
        .await
        .expect("create character succeeds");
    assert_eq!(reply.provider, "local");
    let image = reply.image.unwrap();
    assert_eq!((image.width, image.height), (1024, 768));
    server.stop().await;
}

fn style_fixture(name: &str) -> String {
    format!("{}/tests/fixtures/style/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn character_with_style_model(
    style_model: String,
) -> Option<Result<pb::CreateCharacterResponse, tonic::Status>> {
    let photo = common::testdata("astronaut.png")?;
    let server = TestServer::with_models(|s| s.models.style.cartoon = style_model).await?;
    let reply = cartoon_character(&server, photo).await;
    server.stop().await;
    Some(reply)
}

#[tokio::test]
async fn an_installed_style_model_paints_the_character() {
    let Some(reply) = character_with_style_model(style_fixture("swap_channels_nchw.onnx")).await
    else {
        return;
    };
    let reply = reply.expect("the style model paints the character");
    assert!(
        reply
            .notes
            .iter()
            .any(|n| n.contains("style model swap_channels_nchw.onnx")),
        "{:?}",
        reply.notes
    );
    // The model swaps red and blue: the astronaut's orange suit comes back bluish, which the
    // built-in cartoon preset never paints.
    let character = decode(&data_of(&reply.image.unwrap())).to_rgba8();
    let (mut blue, mut orange) = (0u32, 0u32);
    for pixel in character.pixels().filter(|p| p.0[3] == 255) {
        let [r, _, b, _] = pixel.0;
        blue += u32::from(b > r.saturating_add(60));
        orange += u32::from(r > b.saturating_add(60));
    }
    assert!(blue > 4 * orange, "blue {blue}, orange {orange}");
}

#[tokio::test]
async fn a_configured_style_model_that_is_missing_is_a_failed_precondition() {
    let Some(reply) = character_with_style_model("not-installed.onnx".into()).await else {
        return;
    };
    let status = reply.expect_err("a missing style model is refused");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status.message().contains("models.style.cartoon"),
        "{}",
        status.message()
    );
}
