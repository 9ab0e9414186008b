//! The providers under test: a real server on loopback whose chains send every operation a
//! provider implements to that provider alone, results delivered as signed URLs, and the
//! photos those operations take.

use std::time::Duration;

use image::{DynamicImage, Rgb, RgbImage};
use imgforge::config::{Delivery, Settings};
use tonic::transport::Channel;

use crate::aliyun_vision_emulator::{self as aliyun, disc_png};
use crate::common::{self, FileServer, TestServer};
use crate::dashscope_emulator::{DashScopeEmulator, TaskScript};
use crate::ops::{Fixture, Op};

const ALIYUN_KEY_ID: &str = "LTAI5tConformanceKey";
const ALIYUN_KEY_SECRET: &str = "conformance-secret";
/// The DashScope models the emulated operations call.
const DASHSCOPE_MODELS: [&str; 4] = [
    "wanx-background-generation-v2",
    "aitryon-plus",
    "wanx2.1-imageedit",
    "wanx-style-repaint-v1",
];

pub enum Backend {
    Local,
    DashScope(DashScopeEmulator),
    AliyunVision(aliyun::Emulator),
}

pub struct Subject {
    pub server: TestServer,
    pub files: FileServer,
    backend: Backend,
    person: Vec<u8>,
    background: Vec<u8>,
    garment: Vec<u8>,
    /// Whether the local segmentation model runs here (a remote character is cut out by it).
    pub segmentation: bool,
}

/// What every subject shares: signed result URLs, inputs fetched from loopback.
fn deliver_urls(s: &mut Settings) {
    s.results.delivery = Delivery::Url;
    s.fetch.allow = vec!["127.0.0.1/32".into()];
}

impl Subject {
    /// The local engine on the real photos and models; `None` (reason printed) without them.
    pub async fn local() -> Option<Subject> {
        let person = common::testdata("astronaut.png")?;
        let background = common::testdata("hubble_deep_field.jpg")?;
        let garment = common::testdata("chelsea.png")?;
        let server = TestServer::with_models(deliver_urls).await?;
        Some(Subject {
            server,
            files: FileServer::start().await,
            backend: Backend::Local,
            person,
            background,
            garment,
            segmentation: true,
        })
    }

    /// DashScope at its emulator, cutting subjects out locally where the model is installed.
    pub async fn dashscope() -> Option<Subject> {
        let emulator = DashScopeEmulator::start().await;
        let models = common::segmentation_ready();
        let server = TestServer::start_with(|s| {
            emulator.configure(s, &[]);
            deliver_urls(s);
            if let Some(dir) = &models {
                s.models.dir = dir.clone();
                s.providers.dashscope.cutout_subject = true;
            }
        })
        .await;
        Some(Subject::remote(server, Backend::DashScope(emulator), models.is_some()).await)
    }

    /// aliyun-vision at its emulator.
    pub async fn aliyun_vision() -> Option<Subject> {
        let emulator = aliyun::Emulator::start(ALIYUN_KEY_ID, ALIYUN_KEY_SECRET).await;
        let server = TestServer::start_with(|s| {
            emulator.configure(s);
            deliver_urls(s);
        })
        .await;
        Some(Subject::remote(server, Backend::AliyunVision(emulator), false).await)
    }

    /// An emulated provider: the test photos where present, synthetic ones otherwise (on a
    /// user's clone only: in CI a missing photo fails).
    async fn remote(server: TestServer, backend: Backend, segmentation: bool) -> Subject {
        let photo = |name: &str, synthetic: fn() -> Vec<u8>| {
            if common::strict() {
                return common::testdata(name).expect("strict mode fails instead");
            }
            std::fs::read(common::testdata_dir().join(name)).unwrap_or_else(|_| synthetic())
        };
        Subject {
            server,
            files: FileServer::start().await,
            backend,
            person: photo("astronaut.png", || disc_png(640, 480)),
            background: photo("hubble_deep_field.jpg", || {
                png(RgbImage::from_fn(640, 480, |x, y| {
                    Rgb([(x / 3) as u8, (y / 2) as u8, 90])
                }))
            }),
            garment: photo("chelsea.png", || {
                png(RgbImage::from_fn(300, 400, |_, y| {
                    Rgb(if y / 20 % 2 == 0 {
                        [30, 60, 160]
                    } else {
                        [240; 3]
                    })
                }))
            }),
            segmentation,
        }
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }

    /// The provider name replies carry.
    pub fn provider(&self) -> &'static str {
        match self.backend {
            Backend::Local => "local",
            Backend::DashScope(_) => "dashscope",
            Backend::AliyunVision(_) => "aliyun-vision",
        }
    }

    /// The operations this provider implements.
    pub fn ops(&self) -> &'static [Op] {
        match self.backend {
            Backend::Local => &[
                Op::RemoveBackground,
                Op::ChangeBackground,
                Op::CreateCharacter,
                Op::Fix,
                Op::Expand,
                Op::RemoveWatermark,
            ],
            Backend::DashScope(_) => &[
                Op::ChangeBackground,
                Op::CreateCharacter,
                Op::ChangeClothes,
                Op::Expand,
                Op::Fix,
                Op::RemoveWatermark,
            ],
            Backend::AliyunVision(_) => &[Op::RemoveBackground],
        }
    }

    pub async fn channel(&self) -> Channel {
        self.server.channel().await
    }

    /// The test photos for each of `op`'s image fields.
    pub fn images(&self, op: Op) -> Vec<Option<Vec<u8>>> {
        op.slots()
            .iter()
            .map(|slot| {
                Some(match slot.fixture {
                    Fixture::Person => self.person.clone(),
                    Fixture::Background => self.background.clone(),
                    Fixture::Garment => self.garment.clone(),
                })
            })
            .collect()
    }

    /// The size of the person photo every operation starts from.
    pub fn person_size(&self) -> (u32, u32) {
        let image = common::decode(&self.person);
        (image.width(), image.height())
    }

    /// Requests that reached the provider's backend so far.
    pub fn backend_calls(&self) -> usize {
        match &self.backend {
            Backend::Local => 0,
            Backend::DashScope(emulator) => emulator.submitted().len(),
            Backend::AliyunVision(emulator) => emulator.raw_requests().len(),
        }
    }

    /// Makes the backend's next work never finish (in time).
    pub fn stall(&self) {
        match &self.backend {
            Backend::Local => {}
            Backend::DashScope(emulator) => {
                for model in DASHSCOPE_MODELS {
                    emulator.script(model, TaskScript::NeverEnds);
                }
            }
            Backend::AliyunVision(emulator) => {
                emulator.push_fault(aliyun::Fault::Slow(Duration::from_secs(3)));
            }
        }
    }

    /// Undoes [`Subject::stall`].
    pub fn resume(&self) {
        if let Backend::DashScope(emulator) = &self.backend {
            for model in DASHSCOPE_MODELS {
                emulator.script(
                    model,
                    TaskScript::Succeed {
                        polls: 2,
                        images: 1,
                    },
                );
            }
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Local)
    }

    /// How long a call may take before its deadline in the deadline check: shorter than the
    /// local engine's work, long enough for a remote task to be submitted.
    pub fn short_deadline(&self) -> Duration {
        match self.backend {
            Backend::Local => Duration::from_millis(50),
            // DashScope's change_background first cuts the subject out locally (a few hundred
            // ms unloaded, seconds on a busy CI machine); its stall never ends, so a long
            // deadline still catches it at work.
            Backend::DashScope(_) => Duration::from_millis(4000),
            // aliyun-vision's stall answers after 3 s: the deadline must come first.
            Backend::AliyunVision(_) => Duration::from_millis(1500),
        }
    }

    /// Provider tasks still running that nobody waits for any more.
    pub fn leaked_tasks(&self) -> Vec<String> {
        match &self.backend {
            Backend::DashScope(emulator) => emulator.unfinished(),
            Backend::Local | Backend::AliyunVision(_) => Vec::new(),
        }
    }
}

fn png(image: RgbImage) -> Vec<u8> {
    common::encode(&DynamicImage::ImageRgb8(image), image::ImageFormat::Png)
}
