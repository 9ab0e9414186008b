//! The operations under test, each callable the same way whichever provider runs it: one
//! gRPC call and one REST request built from the same images.

use std::time::Duration;

use imgforge::proto::v1 as pb;
use pb::character_service_client::CharacterServiceClient;
use pb::editing_service_client::EditingServiceClient;
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::common::{FileServer, TestServer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    RemoveBackground,
    ChangeBackground,
    CreateCharacter,
    ChangeClothes,
    Expand,
    Fix,
    RemoveWatermark,
}

/// Which test image goes into an operation's image field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    Person,
    Background,
    Garment,
}

/// One image field of an operation, as each transport names it; leaving it out is an error.
pub struct Slot {
    pub grpc: &'static str,
    pub rest: &'static str,
    pub fixture: Fixture,
}

/// The documented success reply of a REST path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestShape {
    /// Seed 002's async-task shape with `results[{url}]`.
    Task,
    /// Seed 002's `/change_cloth`: the task fields with one `image_url`.
    Clothes,
    /// Seed 000's `{code, desc, message: {character_image_url, ...}}`.
    Character,
}

/// Results asked of change background, to see that `n` comes back.
pub const VARIANTS: usize = 2;
/// Expand's scales: top, bottom, left, right.
const EXPAND: [f32; 4] = [1.25, 1.0, 1.5, 1.0];
/// Fix's default upscale factor.
const FIX_FACTOR: u32 = 2;

const fn slot(grpc: &'static str, rest: &'static str, fixture: Fixture) -> Slot {
    Slot {
        grpc,
        rest,
        fixture,
    }
}

/// What an operation answered over gRPC, whichever service it belongs to.
pub struct Reply {
    /// `None` for create character, whose reply has no task.
    pub task: Option<pb::TaskReport>,
    pub provider: String,
    pub notes: Vec<String>,
    pub images: Vec<pb::ImageOutput>,
}

impl Reply {
    fn edited(task: Option<pb::TaskReport>, images: Vec<pb::ImageOutput>) -> Reply {
        let task = task.expect("an editing reply carries its task");
        Reply {
            provider: task.provider.clone(),
            notes: task.notes.clone(),
            task: Some(task),
            images,
        }
    }
}

impl Op {
    pub fn slots(self) -> &'static [Slot] {
        use Fixture::*;
        const IMAGE: Slot = slot("image", "image_url", Person);
        const BASE: Slot = slot("base_image", "base_image_url", Person);
        const REF: Slot = slot("ref_image", "ref_image_url", Background);
        const PHOTO: Slot = slot("photo", "photo", Person);
        const PERSON: Slot = slot("person_image", "person_image_url", Person);
        const TOP: Slot = slot("top_garment", "top_garment_url", Garment);
        match self {
            Op::RemoveBackground | Op::RemoveWatermark => &[IMAGE],
            Op::ChangeBackground => &[BASE, REF],
            Op::CreateCharacter => &[PHOTO],
            Op::ChangeClothes => &[PERSON, TOP],
            Op::Expand | Op::Fix => &[BASE],
        }
    }

    pub fn rest_shape(self) -> RestShape {
        match self {
            Op::CreateCharacter => RestShape::Character,
            Op::ChangeClothes => RestShape::Clothes,
            Op::RemoveBackground
            | Op::ChangeBackground
            | Op::Expand
            | Op::Fix
            | Op::RemoveWatermark => RestShape::Task,
        }
    }

    /// How many images a successful call returns.
    pub fn count(self) -> usize {
        if self == Op::ChangeBackground {
            VARIANTS
        } else {
            1
        }
    }

    /// Whether the result is a subject on a transparent background.
    pub fn cuts_out(self) -> bool {
        matches!(self, Op::RemoveBackground | Op::CreateCharacter)
    }

    /// The size a result of a `width`×`height` person photo should have.
    pub fn expected_size(self, (width, height): (u32, u32)) -> (u32, u32) {
        let [top, bottom, left, right] = EXPAND;
        let grow = |side: u32, a: f32, b: f32| (side as f32 * (a + b - 1.0)).round() as u32;
        match self {
            Op::Expand => (grow(width, left, right), grow(height, top, bottom)),
            Op::Fix => (width * FIX_FACTOR, height * FIX_FACTOR),
            Op::RemoveBackground
            | Op::ChangeBackground
            | Op::CreateCharacter
            | Op::ChangeClothes
            | Op::RemoveWatermark => (width, height),
        }
    }

    /// Calls the operation over gRPC with `images` in its [`Op::slots`] (`None` leaves a
    /// field out), under `timeout` when given.
    pub async fn grpc(
        self,
        channel: Channel,
        images: Vec<Option<Vec<u8>>>,
        timeout: Option<Duration>,
    ) -> Result<Reply, tonic::Status> {
        let mut images = images.into_iter().map(|bytes| {
            bytes.map(|b| pb::ImageInput {
                source: Some(pb::image_input::Source::Data(b)),
            })
        });
        let mut next = || images.next().flatten();
        let mut editing = EditingServiceClient::new(channel.clone())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        let reply = match self {
            Op::RemoveBackground => {
                let r = editing
                    .remove_background(with_timeout(
                        pb::RemoveBackgroundRequest {
                            image: next(),
                            ..Default::default()
                        },
                        timeout,
                    ))
                    .await?
                    .into_inner();
                Reply::edited(r.task, r.image.into_iter().collect())
            }
            Op::ChangeBackground => {
                let r = editing
                    .change_background(with_timeout(
                        pb::ChangeBackgroundRequest {
                            base_image: next(),
                            ref_image: next(),
                            n: Some(VARIANTS as u32),
                            ..Default::default()
                        },
                        timeout,
                    ))
                    .await?
                    .into_inner();
                Reply::edited(r.task, r.images)
            }
            Op::CreateCharacter => {
                let r = CharacterServiceClient::new(channel)
                    .max_decoding_message_size(64 << 20)
                    .max_encoding_message_size(64 << 20)
                    .create_character(with_timeout(
                        pb::CreateCharacterRequest {
                            photo: next(),
                            style_preset: pb::StylePreset::Cartoon as i32,
                            output: None,
                        },
                        timeout,
                    ))
                    .await?
                    .into_inner();
                Reply {
                    task: None,
                    provider: r.provider,
                    notes: r.notes,
                    images: r.image.into_iter().collect(),
                }
            }
            Op::ChangeClothes => {
                let r = editing
                    .change_clothes(with_timeout(
                        pb::ChangeClothesRequest {
                            person_image: next(),
                            top_garment: next(),
                            ..Default::default()
                        },
                        timeout,
                    ))
                    .await?
                    .into_inner();
                Reply::edited(r.task, r.image.into_iter().collect())
            }
            Op::Expand => {
                let [top, bottom, left, right] = EXPAND.map(Some);
                let r = editing
                    .expand(with_timeout(
                        pb::ExpandRequest {
                            base_image: next(),
                            top_scale: top,
                            bottom_scale: bottom,
                            left_scale: left,
                            right_scale: right,
                            ..Default::default()
                        },
                        timeout,
                    ))
                    .await?
                    .into_inner();
                Reply::edited(r.task, r.image.into_iter().collect())
            }
            Op::Fix => {
                let r = editing
                    .fix(with_timeout(
                        pb::FixRequest {
                            base_image: next(),
                            ..Default::default()
                        },
                        timeout,
                    ))
                    .await?
                    .into_inner();
                Reply::edited(r.task, r.image.into_iter().collect())
            }
            Op::RemoveWatermark => {
                let r = editing
                    .remove_watermark(with_timeout(
                        pb::RemoveWatermarkRequest {
                            image: next(),
                            output: None,
                            mask: None,
                        },
                        timeout,
                    ))
                    .await?
                    .into_inner();
                Reply::edited(r.task, r.image.into_iter().collect())
            }
        };
        Ok(reply)
    }

    /// Posts the operation's REST path with `images` in its [`Op::slots`]: hosted on `files`
    /// and given as URLs, or uploaded for create character. Status and JSON body.
    pub async fn rest(
        self,
        server: &TestServer,
        files: &FileServer,
        images: Vec<Option<Vec<u8>>>,
    ) -> (u16, Value) {
        if self == Op::CreateCharacter {
            let photo = images.into_iter().next().flatten();
            return create_character_rest(server, photo, "cartoon").await;
        }
        let mut body = json!({});
        for (slot, bytes) in self.slots().iter().zip(images) {
            if let Some(bytes) = bytes {
                let name = format!("{}-{}", slot.rest, uuid::Uuid::new_v4());
                body[slot.rest] = json!(files.host(&name, bytes));
            }
        }
        let path = match self {
            Op::RemoveBackground => "/remove_bg",
            Op::ChangeBackground => {
                body["n"] = json!(VARIANTS);
                "/change_bg"
            }
            Op::ChangeClothes => "/change_cloth",
            Op::Expand => {
                let [top, bottom, left, right] = EXPAND;
                body["top_scale"] = json!(top);
                body["bottom_scale"] = json!(bottom);
                body["left_scale"] = json!(left);
                body["right_scale"] = json!(right);
                "/expand"
            }
            Op::Fix => "/fix",
            Op::RemoveWatermark => "/remove_watermark",
            Op::CreateCharacter => unreachable!("uploaded above"),
        };
        let res = server
            .http
            .post(server.url(path))
            .json(&body)
            .send()
            .await
            .expect("the bridge answers");
        let status = res.status().as_u16();
        (status, res.json().await.expect("a JSON body"))
    }
}

/// Seed 000's multipart `POST /create-character`; status and JSON body.
pub async fn create_character_rest(
    server: &TestServer,
    photo: Option<Vec<u8>>,
    style_preset: &str,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new().text("style_preset", style_preset.to_owned());
    if let Some(photo) = photo {
        form = form.part(
            "photo",
            reqwest::multipart::Part::bytes(photo).file_name("photo.png"),
        );
    }
    let res = server
        .http
        .post(server.url("/create-character"))
        .multipart(form)
        .send()
        .await
        .expect("the bridge answers");
    let status = res.status().as_u16();
    (status, res.json().await.expect("a JSON body"))
}

fn with_timeout<T>(message: T, timeout: Option<Duration>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    request
}
