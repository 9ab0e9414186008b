//! Conversions between proto messages and domain types.

use bytes::Bytes;

use crate::config::Delivery;
use crate::domain::params::OutputSpec;
use crate::domain::{ImageFormat, ImageSource, TaskReport, TaskStatus};
use crate::engine::DeliveredImage;
use crate::error::{Error, Result};
use crate::proto::v1 as pb;

/// The source of a required image field, or an error naming `field`.
pub fn image_source(input: Option<pb::ImageInput>, field: &str) -> Result<ImageSource> {
    use pb::image_input::Source;
    match input.and_then(|i| i.source) {
        Some(Source::Data(data)) if data.is_empty() => Err(Error::invalid(
            format!("{field}.data"),
            format!("{field}.data is empty"),
        )),
        Some(Source::Data(data)) => Ok(ImageSource::Bytes(Bytes::from(data))),
        Some(Source::Url(url)) if url.trim().is_empty() => Err(Error::invalid(
            format!("{field}.url"),
            format!("{field}.url is empty"),
        )),
        Some(Source::Url(url)) => Ok(ImageSource::Url(url)),
        Some(Source::UploadId(id)) => Ok(ImageSource::Upload(id)),
        None => Err(Error::invalid(
            field,
            format!("{field} is required: set data, url or upload_id"),
        )),
    }
}

/// An image input the caller may leave out.
pub fn optional_image_source(
    input: Option<pb::ImageInput>,
    field: &str,
) -> Result<Option<ImageSource>> {
    match input {
        Some(pb::ImageInput { source: None }) | None => Ok(None),
        Some(input) => image_source(Some(input), field).map(Some),
    }
}

pub fn format_to_proto(format: ImageFormat) -> pb::ImageFormat {
    match format {
        ImageFormat::Png => pb::ImageFormat::Png,
        ImageFormat::Jpeg => pb::ImageFormat::Jpeg,
        ImageFormat::Webp => pb::ImageFormat::Webp,
        ImageFormat::Gif => pb::ImageFormat::Gif,
        ImageFormat::Bmp => pb::ImageFormat::Bmp,
        ImageFormat::Tiff => pb::ImageFormat::Tiff,
        ImageFormat::Svg => pb::ImageFormat::Svg,
    }
}

fn format_from_proto(value: i32, field: &str) -> Result<Option<ImageFormat>> {
    let format = pb::ImageFormat::try_from(value)
        .map_err(|_| Error::invalid(field, format!("{field}: unknown image format {value}")))?;
    Ok(match format {
        pb::ImageFormat::Unspecified => None,
        pb::ImageFormat::Png => Some(ImageFormat::Png),
        pb::ImageFormat::Jpeg => Some(ImageFormat::Jpeg),
        pb::ImageFormat::Webp => Some(ImageFormat::Webp),
        pb::ImageFormat::Gif => Some(ImageFormat::Gif),
        pb::ImageFormat::Bmp => Some(ImageFormat::Bmp),
        pb::ImageFormat::Tiff => Some(ImageFormat::Tiff),
        pb::ImageFormat::Svg => Some(ImageFormat::Svg),
    })
}

/// Encoding and delivery asked for in `output`; `None` delivery means the server default.
pub fn output_options(output: Option<pb::OutputOptions>) -> Result<(OutputSpec, Option<Delivery>)> {
    let output = output.unwrap_or_default();
    let format = format_from_proto(output.format, "output.format")?;
    let spec = OutputSpec::new(format, output.quality)?;
    let delivery = match pb::Delivery::try_from(output.delivery) {
        Ok(pb::Delivery::Unspecified) => None,
        Ok(pb::Delivery::Inline) => Some(Delivery::Inline),
        Ok(pb::Delivery::Url) => Some(Delivery::Url),
        Err(_) => {
            return Err(Error::invalid(
                "output.delivery",
                format!("output.delivery: unknown value {}", output.delivery),
            ));
        }
    };
    Ok((spec, delivery))
}

pub fn image_output(image: DeliveredImage) -> pb::ImageOutput {
    use pb::image_output::Location;
    let location = match image.url {
        Some(url) => Location::Url(url),
        None => Location::Data(image.image.bytes.to_vec()),
    };
    pb::ImageOutput {
        location: Some(location),
        media_type: image.image.format.media_type().to_owned(),
        width: image.image.width,
        height: image.image.height,
        url_expires_at: image.url_expires_at.map(prost_types::Timestamp::from),
    }
}

pub fn task_report(task: TaskReport) -> pb::TaskReport {
    let status = match task.status {
        TaskStatus::Pending => pb::TaskStatus::Pending,
        TaskStatus::Running => pb::TaskStatus::Running,
        TaskStatus::Succeeded => pb::TaskStatus::Succeeded,
        TaskStatus::Failed => pb::TaskStatus::Failed,
        TaskStatus::Canceled => pb::TaskStatus::Canceled,
        TaskStatus::Unknown => pb::TaskStatus::Unknown,
    };
    pb::TaskReport {
        task_id: task.task_id,
        status: status.into(),
        submit_time: Some(task.submit_time.into()),
        scheduled_time: Some(task.scheduled_time.into()),
        end_time: Some(task.end_time.into()),
        metrics: Some(pb::TaskMetrics {
            total: task.total,
            succeeded: task.succeeded,
            failed: task.failed,
        }),
        provider: task.provider,
        notes: task.notes,
    }
}
