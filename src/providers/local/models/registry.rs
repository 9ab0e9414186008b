//! Every model the local engine knows: where its files live in the models directory, how to
//! recognise them (sha256, and rembg's published md5 where no sha256 is known), where they are
//! officially published, what goes in and out, and under which license.
//!
//! Segmentation models carry the pre- and post-processing parameters of rembg's session for the
//! same file, so a mask computed here matches rembg's.

/// What a model does; decides which part of the engine may load it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// U^2-Net-style salient-object segmentation (rembg's sessions): one image in, one mask out.
    SalientSegmentation,
    /// Text detection (DB head): a text probability map.
    TextDetection,
    /// Super-resolution (Real-ESRGAN, ncnn graph + weights).
    SuperResolution,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::SalientSegmentation => "salient-segmentation",
            Family::TextDetection => "text-detection",
            Family::SuperResolution => "super-resolution",
        }
    }
}

/// Where the official copy of a file can be downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The file itself, at this URL.
    Direct(&'static str),
    /// A member of a zip archive published at `url`.
    ArchiveMember {
        url: &'static str,
        member: &'static str,
    },
}

impl Source {
    pub fn url(self) -> &'static str {
        match self {
            Source::Direct(url) | Source::ArchiveMember { url, .. } => url,
        }
    }
}

/// One file of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// Path relative to the models directory.
    pub path: &'static str,
    /// Lowercase hex sha256 of the official file; `None` when no trustworthy value is known.
    pub sha256: Option<&'static str>,
    /// Lowercase hex md5 that rembg itself checks downloads against; used only when the sha256
    /// is unknown.
    pub md5: Option<&'static str>,
    /// Size in bytes, where known.
    pub size: Option<u64>,
    pub source: Source,
}

/// What a segmentation model's output needs before min-max normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// The first output already is a saliency map (U^2-Net, IS-Net).
    Identity,
    /// The first output is a logit map (BiRefNet).
    Sigmoid,
}

/// rembg's `normalize` + `predict` for one session class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentationParams {
    /// Square input side: the image is resized (Lanczos) to `side`×`side`.
    pub side: u32,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub activation: Activation,
}

const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

const U2NET_320: SegmentationParams = SegmentationParams {
    side: 320,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    activation: Activation::Identity,
};

const BIREFNET_1024: SegmentationParams = SegmentationParams {
    side: 1024,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    activation: Activation::Sigmoid,
};

/// A model the engine knows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSpec {
    pub name: &'static str,
    pub family: Family,
    pub files: &'static [ModelFile],
    /// Input and output contract, for people.
    pub contract: &'static str,
    pub license: &'static str,
    /// Set for [`Family::SalientSegmentation`] models.
    pub segmentation: Option<SegmentationParams>,
}

impl ModelSpec {
    /// The file a session is created from (the first one).
    pub fn main_file(&self) -> &'static ModelFile {
        &self.files[0]
    }

    /// Whether `imgforge models fetch` with no names installs this model.
    pub fn is_default(&self) -> bool {
        DEFAULT_FETCH.contains(&self.name)
    }
}

/// An asset of rembg's `v0.0.0` release, where rembg itself downloads its models from.
macro_rules! rembg_release {
    ($file:literal) => {
        concat!(
            "https://github.com/danielgatis/rembg/releases/download/v0.0.0/",
            $file
        )
    };
}

/// Real-ESRGAN's ncnn-vulkan release; every platform's zip holds the same `models/` folder.
const REALESRGAN_NCNN_ZIP: &str = "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.5.0/realesrgan-ncnn-vulkan-20220424-windows.zip";

const U2NET_CONTRACT: &str = "input 1x3x320x320 float32 RGB: Lanczos-resized to 320x320, divided by the \
     image's largest value, normalised with mean (0.485,0.456,0.406) std (0.229,0.224,0.225); \
     output 0 is 1x1x320x320: min-max normalise, scale to 0..255, Lanczos-resize back";

/// Models `imgforge models fetch` installs when given no names.
pub const DEFAULT_FETCH: &[&str] = &["u2netp"];

/// Every known model, in the order `imgforge models list` shows them.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "u2netp",
        family: Family::SalientSegmentation,
        files: &[ModelFile {
            path: "u2netp.onnx",
            sha256: Some("309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"),
            md5: Some("8e83ca70e441ab06c318d82300c84806"),
            size: Some(4_574_861),
            source: Source::Direct(rembg_release!("u2netp.onnx")),
        }],
        contract: U2NET_CONTRACT,
        license: "Apache-2.0 (U-2-Net)",
        segmentation: Some(U2NET_320),
    },
    ModelSpec {
        name: "u2net",
        family: Family::SalientSegmentation,
        files: &[ModelFile {
            path: "u2net.onnx",
            sha256: None,
            md5: Some("60024c5c889badc19c04ad937298a77b"),
            size: None,
            source: Source::Direct(rembg_release!("u2net.onnx")),
        }],
        contract: U2NET_CONTRACT,
        license: "Apache-2.0 (U-2-Net)",
        segmentation: Some(U2NET_320),
    },
    ModelSpec {
        name: "u2net_human_seg",
        family: Family::SalientSegmentation,
        files: &[ModelFile {
            path: "u2net_human_seg.onnx",
            sha256: Some("01eb6a29a5c4d8edb30b56adad9bb3a2a0535338e480724a213e0acfd2d1c73c"),
            md5: Some("c09ddc2e0104f800e3e1bb4652583d1f"),
            size: Some(175_997_641),
            source: Source::Direct(rembg_release!("u2net_human_seg.onnx")),
        }],
        contract: U2NET_CONTRACT,
        license: "Apache-2.0 (U-2-Net)",
        segmentation: Some(U2NET_320),
    },
    ModelSpec {
        name: "silueta",
        family: Family::SalientSegmentation,
        files: &[ModelFile {
            path: "silueta.onnx",
            sha256: None,
            md5: Some("55e59e0d8062d2f5d013f4725ee84782"),
            size: None,
            source: Source::Direct(rembg_release!("silueta.onnx")),
        }],
        contract: U2NET_CONTRACT,
        license: "Apache-2.0 (U-2-Net)",
        segmentation: Some(U2NET_320),
    },
    ModelSpec {
        name: "isnet-general-use",
        family: Family::SalientSegmentation,
        files: &[ModelFile {
            path: "isnet-general-use.onnx",
            sha256: Some("60920e99c45464f2ba57bee2ad08c919a52bbf852739e96947fbb4358c0d964a"),
            md5: Some("fc16ebd8b0c10d971d3513d564d01e29"),
            size: Some(178_648_008),
            source: Source::Direct(rembg_release!("isnet-general-use.onnx")),
        }],
        contract: "input 1x3x1024x1024 float32 RGB: Lanczos-resized, divided by the image's largest \
             value, normalised with mean 0.5 std 1.0; output 0 is 1x1x1024x1024: min-max \
             normalise, scale to 0..255, Lanczos-resize back",
        license: "Apache-2.0 (DIS)",
        segmentation: Some(SegmentationParams {
            side: 1024,
            mean: [0.5, 0.5, 0.5],
            std: [1.0, 1.0, 1.0],
            activation: Activation::Identity,
        }),
    },
    ModelSpec {
        name: "birefnet-general",
        family: Family::SalientSegmentation,
        files: &[ModelFile {
            path: "birefnet-general.onnx",
            sha256: Some("58f621f00f5d756097615970a88a791584600dcf7c45b18a0a6267535a1ebd3c"),
            md5: Some("7a35a0141cbbc80de11d9c9a28f52697"),
            size: Some(972_666_916),
            source: Source::Direct(rembg_release!("BiRefNet-general-epoch_244.onnx")),
        }],
        contract: "input 1x3x1024x1024 float32 RGB: Lanczos-resized, divided by the image's largest \
             value, normalised with mean (0.485,0.456,0.406) std (0.229,0.224,0.225); output 0 is \
             1x1x1024x1024 logits: sigmoid, min-max normalise, scale to 0..255, Lanczos-resize back",
        license: "MIT (BiRefNet)",
        segmentation: Some(BIREFNET_1024),
    },
    ModelSpec {
        name: "birefnet-general-lite",
        family: Family::SalientSegmentation,
        files: &[ModelFile {
            path: "birefnet-general-lite.onnx",
            sha256: Some("5600024376f572a557870a5eb0afb1e5961636bef4e1e22132025467d0f03333"),
            md5: Some("4fab47adc4ff364be1713e97b7e66334"),
            size: Some(224_005_088),
            source: Source::Direct(rembg_release!(
                "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx"
            )),
        }],
        contract: "as birefnet-general (Swin-T backbone): 1x3x1024x1024 in, logits out",
        license: "MIT (BiRefNet)",
        segmentation: Some(BIREFNET_1024),
    },
    ModelSpec {
        name: "ch_PP-OCRv4_det",
        family: Family::TextDetection,
        files: &[ModelFile {
            path: "ch_PP-OCRv4_det_infer.onnx",
            sha256: Some("d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
            md5: None,
            size: Some(4_745_517),
            source: Source::Direct(
                "https://www.modelscope.cn/models/RapidAI/RapidOCR/resolve/v3.7.0/onnx/PP-OCRv4/det/ch_PP-OCRv4_det_infer.onnx",
            ),
        }],
        contract: "input 1x3xHxW float32 (H, W multiples of 32), scaled to [0,1], normalised with \
             mean (0.485,0.456,0.406) std (0.229,0.224,0.225); output 1x1xHxW text probability \
             (threshold ~0.3, boxes from contours, unclip ratio ~1.5)",
        license: "Apache-2.0 (PaddleOCR, ONNX export by RapidOCR)",
        segmentation: None,
    },
    ModelSpec {
        name: "realesr-animevideov3-x4",
        family: Family::SuperResolution,
        files: &[
            ModelFile {
                path: "realesrgan-ncnn/realesr-animevideov3-x4.param",
                sha256: Some("850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e"),
                md5: None,
                size: Some(3_077),
                source: Source::ArchiveMember {
                    url: REALESRGAN_NCNN_ZIP,
                    member: "models/realesr-animevideov3-x4.param",
                },
            },
            ModelFile {
                path: "realesrgan-ncnn/realesr-animevideov3-x4.bin",
                sha256: Some("548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"),
                md5: None,
                size: Some(1_247_368),
                source: Source::ArchiveMember {
                    url: REALESRGAN_NCNN_ZIP,
                    member: "models/realesr-animevideov3-x4.bin",
                },
            },
        ],
        contract: "ncnn graph (SRVGGNetCompact: conv + PReLU + pixel shuffle); input RGB in [0,1], \
             output RGB in [0,1] at 4x",
        license: "BSD-3-Clause (Real-ESRGAN)",
        segmentation: None,
    },
    ModelSpec {
        name: "realesr-animevideov3-x2",
        family: Family::SuperResolution,
        files: &[
            ModelFile {
                path: "realesrgan-ncnn/realesr-animevideov3-x2.param",
                sha256: Some("b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04"),
                md5: None,
                size: Some(3_173),
                source: Source::ArchiveMember {
                    url: REALESRGAN_NCNN_ZIP,
                    member: "models/realesr-animevideov3-x2.param",
                },
            },
            ModelFile {
                path: "realesrgan-ncnn/realesr-animevideov3-x2.bin",
                sha256: Some("548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"),
                md5: None,
                size: Some(1_247_368),
                source: Source::ArchiveMember {
                    url: REALESRGAN_NCNN_ZIP,
                    member: "models/realesr-animevideov3-x2.bin",
                },
            },
        ],
        contract: "as realesr-animevideov3-x4 (same weights), x2 graph",
        license: "BSD-3-Clause (Real-ESRGAN)",
        segmentation: None,
    },
    ModelSpec {
        name: "realesrgan-x4plus",
        family: Family::SuperResolution,
        files: &[
            ModelFile {
                path: "realesrgan-ncnn/realesrgan-x4plus.param",
                sha256: Some("35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86"),
                md5: None,
                size: Some(116_029),
                source: Source::ArchiveMember {
                    url: REALESRGAN_NCNN_ZIP,
                    member: "models/realesrgan-x4plus.param",
                },
            },
            ModelFile {
                path: "realesrgan-ncnn/realesrgan-x4plus.bin",
                sha256: Some("713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf"),
                md5: None,
                size: Some(33_424_520),
                source: Source::ArchiveMember {
                    url: REALESRGAN_NCNN_ZIP,
                    member: "models/realesrgan-x4plus.bin",
                },
            },
        ],
        contract: "ncnn graph (RRDBNet x4plus); input RGB in [0,1], output RGB in [0,1] at 4x",
        license: "BSD-3-Clause (Real-ESRGAN)",
        segmentation: None,
    },
];

/// Looks a model up by name.
pub fn find(name: &str) -> Option<&'static ModelSpec> {
    MODELS.iter().find(|spec| spec.name == name)
}

/// Names of every model of `family`, in registry order.
pub fn names_of(family: Family) -> Vec<&'static str> {
    MODELS
        .iter()
        .filter(|spec| spec.family == family)
        .map(|spec| spec.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_are_unique() {
        let mut names = std::collections::HashSet::new();
        let mut paths = std::collections::HashSet::new();
        for spec in MODELS {
            assert!(names.insert(spec.name), "duplicate model {}", spec.name);
            for file in spec.files {
                assert!(paths.insert(file.path), "duplicate path {}", file.path);
            }
        }
    }

    #[test]
    fn hashes_are_lowercase_hex_of_the_right_length() {
        for file in MODELS.iter().flat_map(|spec| spec.files) {
            if let Some(sha) = file.sha256 {
                assert_eq!(sha.len(), 64, "{}", file.path);
                assert!(
                    sha.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                );
            }
            if let Some(md5) = file.md5 {
                assert_eq!(md5.len(), 32, "{}", file.path);
                assert!(
                    md5.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                );
            }
            assert!(
                file.sha256.is_some() || file.md5.is_some(),
                "{} has no hash",
                file.path
            );
        }
    }

    #[test]
    fn segmentation_models_carry_their_pipeline_and_others_do_not() {
        for spec in MODELS {
            assert_eq!(
                spec.segmentation.is_some(),
                spec.family == Family::SalientSegmentation,
                "{}",
                spec.name
            );
        }
        assert_eq!(find("u2netp").and_then(|s| s.segmentation), Some(U2NET_320));
        let isnet = find("isnet-general-use")
            .and_then(|s| s.segmentation)
            .unwrap();
        assert_eq!((isnet.side, isnet.std), (1024, [1.0; 3]));
    }

    #[test]
    fn every_download_is_https() {
        for file in MODELS.iter().flat_map(|spec| spec.files) {
            assert!(file.source.url().starts_with("https://"), "{}", file.path);
        }
    }

    #[test]
    fn the_default_model_is_known_and_a_segmenter() {
        for name in DEFAULT_FETCH {
            assert_eq!(
                find(name).map(|s| s.family),
                Some(Family::SalientSegmentation)
            );
        }
        assert!(find("nope").is_none());
    }
}
