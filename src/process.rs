//! `imgforge process <operation> <input> <output>`: the local engine from the command line,
//! over single files or whole folders, as rembg's `i`/`p` commands work.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use clap::{Args, ValueEnum};

use crate::config::{BlobStoreSettings, Delivery, Settings};
use crate::domain::params::{
    ChangeBackgroundParams, ConvertParams, CreateCharacterParams, CutoutMode, EdgeRefinement,
    ExpandParams, FixParams, OutputSpec, Placement, RemoveBackgroundParams, RemoveWatermarkParams,
    ResizeParams, StylePreset, parse_color,
};
use crate::domain::{EncodedImage, ImageFormat, ImageSource};
use crate::engine::{DeliveredImage, Engine};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProcessOperation {
    RemoveBg,
    ChangeBg,
    CreateCharacter,
    Resize,
    Convert,
    /// Super-resolution (Real-ESRGAN): --upscale 1-4.
    Fix,
    RemoveWatermark,
    Expand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RefineArg {
    None,
    Guided,
    Matting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Png,
    Jpeg,
    Webp,
}

#[derive(Debug, Args)]
pub struct ProcessArgs {
    pub operation: ProcessOperation,
    /// Input image, or a folder of images.
    pub input: PathBuf,
    /// Output file, or a folder (created) when the input is a folder.
    pub output: PathBuf,
    /// remove-bg: segmentation model (default: models.default_segmentation).
    #[arg(long)]
    pub model: Option<String>,
    /// remove-bg: write the alpha mask only.
    #[arg(long)]
    pub mask: bool,
    /// remove-bg: put the subject on this colour (#RRGGBB[AA] or a name) instead of transparency.
    #[arg(long)]
    pub bg_color: Option<String>,
    /// remove-bg: crop to the subject.
    #[arg(long)]
    pub crop: bool,
    /// remove-bg: margin around the subject when cropping, in pixels.
    #[arg(long, default_value_t = 0)]
    pub crop_margin: u32,
    /// remove-bg: edge refinement.
    #[arg(long, value_enum, default_value_t = RefineArg::Guided)]
    pub refine: RefineArg,
    /// change-bg: the new background image.
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// change-bg: number of results (1-4).
    #[arg(long, default_value_t = 1)]
    pub n: u32,
    /// change-bg: add a soft shadow.
    #[arg(long)]
    pub shadow: bool,
    /// change-bg: subject height as a fraction of the canvas.
    #[arg(long)]
    pub scale: Option<f32>,
    /// create-character: default, cartoon or watercolor.
    #[arg(long)]
    pub style: Option<String>,
    /// resize: lower bound of the shortest side.
    #[arg(long)]
    pub min_dim: Option<i64>,
    /// resize: upper bound of the longest side.
    #[arg(long)]
    pub max_dim: Option<i64>,
    /// fix: enlargement factor, 1-4 (default 2).
    #[arg(long)]
    pub upscale: Option<i64>,
    /// remove-watermark: an image of the same size whose light pixels mark what to remove
    /// (default: find overlaid text with the text detector).
    #[arg(long)]
    pub mask_file: Option<PathBuf>,
    /// expand: growth of the top side (1.0 keeps it; default 1.5).
    #[arg(long)]
    pub top: Option<f32>,
    /// expand: growth of the bottom side.
    #[arg(long)]
    pub bottom: Option<f32>,
    /// expand: growth of the left side.
    #[arg(long)]
    pub left: Option<f32>,
    /// expand: growth of the right side.
    #[arg(long)]
    pub right: Option<f32>,
    /// convert: one PNG per GIF frame.
    #[arg(long)]
    pub keep_animation: bool,
    /// Output format (default: chosen by the operation).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// JPEG quality.
    #[arg(long)]
    pub quality: Option<u32>,
}

pub async fn run(settings: &Settings, args: &ProcessArgs) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    // Nothing is served: results stay in memory and are written where the user asked.
    settings.blob_store = BlobStoreSettings::memory();
    settings.results.delivery = Delivery::Inline;
    let engine = Engine::from_settings(&settings)?;

    if args.input.is_dir() {
        std::fs::create_dir_all(&args.output)?;
        let mut failures = 0;
        let mut entries: Vec<_> = std::fs::read_dir(&args.input)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for input in entries {
            let Some(stem) = input.file_stem() else {
                continue;
            };
            let output = args.output.join(stem).with_extension("png");
            if let Err(e) = process_file(&engine, args, &input, &output).await {
                failures += 1;
                eprintln!("{}: {e}", input.display());
            }
        }
        if failures > 0 {
            anyhow::bail!("{failures} file(s) failed");
        }
        return Ok(());
    }
    process_file(&engine, args, &args.input, &args.output).await
}

async fn process_file(
    engine: &Engine,
    args: &ProcessArgs,
    input: &Path,
    output: &Path,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let bytes = Bytes::from(std::fs::read(input)?);
    let source = ImageSource::Bytes(bytes);
    let spec = OutputSpec::new(
        args.format.map(|f| match f {
            FormatArg::Png => ImageFormat::Png,
            FormatArg::Jpeg => ImageFormat::Jpeg,
            FormatArg::Webp => ImageFormat::Webp,
        }),
        args.quality,
    )?;
    let inline = Some(Delivery::Inline);
    let images: Vec<DeliveredImage> = match args.operation {
        ProcessOperation::RemoveBg => {
            let mode = match (&args.bg_color, args.mask) {
                (_, true) => CutoutMode::Mask,
                (Some(color), false) => CutoutMode::Solid(parse_color("bg_color", color)?),
                (None, false) => CutoutMode::Cutout,
            };
            let params = RemoveBackgroundParams {
                model: args.model.clone(),
                mode,
                crop_to_subject: args.crop,
                crop_margin: args.crop_margin,
                refine: match args.refine {
                    RefineArg::None => EdgeRefinement::None,
                    RefineArg::Guided => EdgeRefinement::GuidedFilter,
                    RefineArg::Matting => EdgeRefinement::AlphaMatting,
                },
                output: spec,
            };
            engine
                .remove_background(source, "input", params, inline)
                .await?
                .images
        }
        ProcessOperation::ChangeBg => {
            let Some(background) = &args.background else {
                anyhow::bail!("change-bg needs --background <image>");
            };
            let background = ImageSource::Bytes(Bytes::from(std::fs::read(background)?));
            let params = ChangeBackgroundParams::new(
                String::new(),
                Some(i64::from(args.n)),
                Placement {
                    scale: args.scale,
                    ..Placement::default()
                },
                args.shadow,
                spec,
            )?;
            let outcome = engine
                .change_background(source, background, ("input", "background"), params, inline)
                .await?;
            for note in &outcome.task.notes {
                eprintln!("{note}");
            }
            outcome.images
        }
        ProcessOperation::CreateCharacter => {
            let params = CreateCharacterParams {
                preset: StylePreset::parse(args.style.as_deref())?,
                output: spec,
            };
            vec![
                engine
                    .create_character(source, "input", params, inline)
                    .await?
                    .image,
            ]
        }
        ProcessOperation::Resize => {
            let params = ResizeParams::new(args.min_dim, args.max_dim, spec)?;
            vec![engine.resize(source, "input", params, inline).await?.image]
        }
        ProcessOperation::Fix => {
            let params = FixParams::new(None, args.upscale, spec)?;
            let outcome = engine.fix(source, "input", params, inline).await?;
            print_notes(&outcome.task.notes);
            outcome.images
        }
        ProcessOperation::RemoveWatermark => {
            let params = RemoveWatermarkParams::new(None, spec);
            let mask = match &args.mask_file {
                Some(path) => Some(ImageSource::Bytes(Bytes::from(std::fs::read(path)?))),
                None => None,
            };
            let outcome = engine
                .remove_watermark(source, "input", params, mask, inline)
                .await?;
            print_notes(&outcome.task.notes);
            outcome.images
        }
        ProcessOperation::Expand => {
            let params =
                ExpandParams::new([args.top, args.bottom, args.left, args.right], None, spec)?;
            let outcome = engine.expand(source, "input", params, inline).await?;
            print_notes(&outcome.task.notes);
            outcome.images
        }
        ProcessOperation::Convert => {
            let params = ConvertParams {
                keep_animation: args.keep_animation,
                overwrite: false,
            };
            engine
                .convert_to_png(source, "input", params, inline)
                .await?
                .images
        }
    };
    let count = images.len();
    for (index, image) in images.into_iter().enumerate() {
        let path = numbered(output, index, count);
        write_atomically(&path, &image.image)?;
        println!(
            "{} -> {} ({}x{}, {} ms)",
            input.display(),
            path.display(),
            image.image.width,
            image.image.height,
            started.elapsed().as_millis()
        );
    }
    Ok(())
}

fn print_notes(notes: &[String]) {
    for note in notes {
        eprintln!("note: {note}");
    }
}

/// `out.png`, or `out-1.png`, `out-2.png`, ... when there are several results.
fn numbered(output: &Path, index: usize, count: usize) -> PathBuf {
    if count <= 1 {
        return output.to_path_buf();
    }
    let stem = output.file_stem().and_then(|s| s.to_str()).unwrap_or("out");
    let ext = output.extension().and_then(|s| s.to_str()).unwrap_or("png");
    output.with_file_name(format!("{stem}-{}.{ext}", index + 1))
}

/// Writes to a temporary file beside the target and renames it, so an interrupted run
/// never leaves half an image behind.
fn write_atomically(path: &Path, image: &EncodedImage) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|s| s.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, &image.bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_several_outputs() {
        assert_eq!(
            numbered(Path::new("a/out.png"), 0, 1),
            PathBuf::from("a/out.png")
        );
        assert_eq!(
            numbered(Path::new("a/out.png"), 1, 3),
            PathBuf::from("a/out-2.png")
        );
    }
}
