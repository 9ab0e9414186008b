//! SVG rasterisation with no access to files or the network.
//!
//! Three layers keep a document from reaching outside itself:
//! 1. before conversion, the parsed XML is scanned and any reference to something outside the
//!    document (an `href` that is not `#fragment` or `data:`, a CSS `url(...)` or `@import`, an
//!    `xml-stylesheet`) is refused, as are `<script>` and `<foreignObject>`;
//! 2. usvg runs with no resources directory and an image resolver that refuses every href
//!    that is not a `data:` URI, so nothing missed by the scan can be loaded;
//! 3. embedded `data:` images are sniffed and probed under the same limits as a top-level
//!    input, because resvg decodes them without any limits of its own.

use std::sync::{Arc, Mutex, OnceLock};

use image::RgbaImage;
use resvg::tiny_skia;
use resvg::usvg::{self, fontdb, roxmltree};

use crate::domain::{ImageFormat, ImageLimits};
use crate::error::{Error, ErrorCode, Result};
use crate::media::cancel::checkpoint;
use crate::media::decode::{check_dimensions, check_input_size};
use crate::media::{markup_depth, probe, sniff, svg_cost};

/// XML nodes (elements, text, comments) a document may have: the parser's own backstop,
/// above any `limits.svg_max_elements` with the text between elements.
const MAX_XML_NODES: u32 = 4_000_000;

/// How much of an offending reference an error message quotes.
const QUOTED_REFERENCE_CHARS: usize = 120;

/// The size the document rasterises to (its size rounded up), checked against `limits`.
pub fn svg_size(bytes: &[u8], limits: &ImageLimits) -> Result<(u32, u32)> {
    let (_, width, height) = bounded_tree(bytes, limits)?;
    Ok((width, height))
}

/// Renders the document at its natural size onto a transparent canvas.
pub fn rasterize(bytes: &[u8], limits: &ImageLimits) -> Result<RgbaImage> {
    let (tree, width, height) = bounded_tree(bytes, limits)?;
    checkpoint()?;
    let mut pixmap = tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| Error::internal(format!("cannot allocate a {width}x{height} canvas")))?;
    // Top-level nodes one at a time, so that a cancelled or overdue job stops between them.
    // Each is placed where `resvg::render` would draw it: `render_node` shifts by the node's
    // bounding box, which the translation undoes.
    for node in tree.root().children() {
        checkpoint()?;
        if let Some(bbox) = node.abs_layer_bounding_box() {
            resvg::render_node(
                node,
                tiny_skia::Transform::from_translate(bbox.x(), bbox.y()),
                &mut pixmap.as_mut(),
            );
        }
    }
    checkpoint()?;
    let mut rgba = pixmap.take();
    demultiply(&mut rgba);
    RgbaImage::from_raw(width, height, rgba)
        .ok_or_else(|| Error::internal("the rendered canvas has an unexpected size"))
}

/// The parsed document and its canvas size, refused if its size or its rendering cost
/// exceeds `limits`.
fn bounded_tree(bytes: &[u8], limits: &ImageLimits) -> Result<(usvg::Tree, u32, u32)> {
    let tree = parse(bytes, limits, Nesting::TopLevel)?;
    let (width, height) = raster_size(&tree, limits)?;
    let cost = svg_cost::render_cost(&tree, width, height);
    if cost > limits.svg_max_render_cost {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "svg would cost about {cost} pixel operations to render (its filters, layers \
                 and shapes over a {width}x{height} canvas); the limit is {} \
                 (limits.svg_max_render_cost)",
                limits.svg_max_render_cost
            ),
        ));
    }
    Ok((tree, width, height))
}

/// Whether a document is the input itself or an image embedded in it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nesting {
    TopLevel,
    /// Embedded documents may not embed images themselves (usvg's own rule for sub-SVGs),
    /// which also bounds the recursion.
    Embedded,
}

fn parse(bytes: &[u8], limits: &ImageLimits, nesting: Nesting) -> Result<usvg::Tree> {
    check_input_size(bytes, limits)?;
    let text =
        std::str::from_utf8(bytes).map_err(|err| invalid(format!("svg is not UTF-8: {err}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // roxmltree's tokenizer recurses per level, so depth is measured on the text first.
    if markup_depth::max_depth(text.as_bytes(), limits.svg_max_depth) > limits.svg_max_depth {
        return Err(too_deep(limits));
    }
    let xml_options = roxmltree::ParsingOptions {
        // Editors write DOCTYPEs with entity declarations; roxmltree never loads external
        // entities and guards against entity expansion bombs.
        allow_dtd: true,
        nodes_limit: MAX_XML_NODES,
    };
    let document = roxmltree::Document::parse_with_options(text, xml_options)
        .map_err(|err| invalid(format!("svg is not well-formed XML: {err}")))?;
    // roxmltree builds its tree without recursing; usvg's conversion below recurses once per
    // level, so the shape is checked first.
    check_structure(&document, limits)?;
    refuse_external_references(&document)?;
    checkpoint()?;

    // The resolver can only answer "no image", so it parks the reason here.
    let embedded_error: Mutex<Option<Error>> = Mutex::new(None);
    let options = usvg::Options {
        resources_dir: None,
        fontdb: system_fonts(),
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_mime, data, _options| match nesting {
                Nesting::Embedded => None,
                Nesting::TopLevel => embedded_image(&data, limits).unwrap_or_else(|err| {
                    let mut slot = embedded_error.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(Error::new(
                        err.code,
                        format!("svg embeds an image that cannot be used: {}", err.message),
                    ));
                    None
                }),
            }),
            resolve_string: Box::new(|_href, _options| None),
        },
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_xmltree(&document, &options)
        .map_err(|err| invalid(format!("svg cannot be read: {err}")))?;
    // The resolvers borrow the slot; release them before taking it.
    drop(options);
    match embedded_error
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        Some(err) => Err(err),
        None => Ok(tree),
    }
}

/// Refuses a document nested deeper than `limits.svg_max_depth` or with more elements than
/// `limits.svg_max_elements`, walking it without recursion.
fn check_structure(document: &roxmltree::Document, limits: &ImageLimits) -> Result<()> {
    // Nodes are stored in document order, so a parent's depth is known before its children's.
    let mut depths: Vec<u32> = Vec::new();
    let mut elements: u32 = 0;
    for node in document.descendants() {
        let id = node.id().get_usize();
        if depths.len() <= id {
            depths.resize(id + 1, 0);
        }
        let parent = node.parent().map_or(0, |p| depths[p.id().get_usize()]);
        if !node.is_element() {
            depths[id] = parent;
            continue;
        }
        let depth = parent + 1;
        depths[id] = depth;
        elements += 1;
        if depth > limits.svg_max_depth {
            return Err(too_deep(limits));
        }
        if elements > limits.svg_max_elements {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "svg has more than {} elements (limits.svg_max_elements)",
                    limits.svg_max_elements
                ),
            ));
        }
    }
    Ok(())
}

fn too_deep(limits: &ImageLimits) -> Error {
    Error::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "svg nests elements more than {} levels deep (limits.svg_max_depth)",
            limits.svg_max_depth
        ),
    )
}

/// Turns the decoded bytes of a `data:` URI into an image usvg can draw, deciding the format
/// from the bytes rather than the declared media type.
fn embedded_image(data: &Arc<Vec<u8>>, limits: &ImageLimits) -> Result<Option<usvg::ImageKind>> {
    let raster = |kind: fn(Arc<Vec<u8>>) -> usvg::ImageKind| {
        probe(data, limits)?;
        Ok(Some(kind(Arc::clone(data))))
    };
    // Data that is not an image we read is left out, as a browser would leave it out.
    let Ok(format) = sniff(data) else {
        return Ok(None);
    };
    match format {
        ImageFormat::Svg => Ok(Some(usvg::ImageKind::SVG(parse(
            data,
            limits,
            Nesting::Embedded,
        )?))),
        ImageFormat::Png => raster(usvg::ImageKind::PNG),
        ImageFormat::Jpeg => raster(usvg::ImageKind::JPEG),
        ImageFormat::Gif => raster(usvg::ImageKind::GIF),
        ImageFormat::Webp => raster(usvg::ImageKind::WEBP),
        // resvg cannot draw these; like a browser, leave the image out.
        ImageFormat::Bmp | ImageFormat::Tiff => Ok(None),
    }
}

/// Refuses a document that points outside itself or carries active content.
fn refuse_external_references(document: &roxmltree::Document) -> Result<()> {
    for node in document.descendants() {
        if let Some(pi) = node.pi() {
            if pi.target.eq_ignore_ascii_case("xml-stylesheet") {
                return Err(external(pi.value.unwrap_or("xml-stylesheet")));
            }
        }
        if !node.is_element() {
            continue;
        }
        let element = node.tag_name().name();
        if element == "script" || element == "foreignObject" {
            return Err(invalid(format!(
                "svg contains a <{element}> element, which is not allowed"
            )));
        }
        for attribute in node.attributes() {
            // A link (`<a href>`) is navigation, never loaded while rendering.
            if attribute.name() == "href" && element != "a" {
                check_reference(attribute.value())?;
            }
            check_css(attribute.value())?;
        }
        if element == "style" {
            for text in node.children().filter_map(|child| child.text()) {
                check_css(text)?;
            }
        }
    }
    Ok(())
}

/// Every `url(...)` must stay inside the document, and stylesheets may not import others.
fn check_css(css: &str) -> Result<()> {
    let lower = css.to_ascii_lowercase();
    if let Some(at) = lower.find("@import") {
        return Err(external(&css[at..]));
    }
    let mut rest = lower.as_str();
    let mut offset = 0;
    while let Some(at) = rest.find("url(") {
        let start = offset + at + "url(".len();
        let argument = css[start..].trim_start();
        let target = match argument.chars().next() {
            Some(quote @ ('"' | '\'')) => argument[1..].split(quote).next().unwrap_or_default(),
            _ => argument.split(')').next().unwrap_or_default().trim_end(),
        };
        check_reference(target)?;
        offset = start;
        rest = &lower[offset..];
    }
    Ok(())
}

fn check_reference(reference: &str) -> Result<()> {
    let reference = reference.trim();
    let is_internal = reference.is_empty()
        || reference.starts_with('#')
        || reference
            .get(..5)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("data:"));
    if is_internal {
        return Ok(());
    }
    Err(external(reference))
}

fn external(reference: &str) -> Error {
    let quoted: String = reference.chars().take(QUOTED_REFERENCE_CHARS).collect();
    let ellipsis = if quoted.len() < reference.len() {
        "…"
    } else {
        ""
    };
    invalid(format!(
        "svg references an external resource ({quoted}{ellipsis}), which is not allowed"
    ))
}

fn invalid(message: String) -> Error {
    Error::new(ErrorCode::InvalidArgument, message)
}

/// The canvas size: the document's size rounded up to whole pixels.
fn raster_size(tree: &usvg::Tree, limits: &ImageLimits) -> Result<(u32, u32)> {
    let size = tree.size();
    // Float-to-int `as` saturates, so an absurd size becomes u32::MAX and fails the check.
    let width = (size.width().ceil() as u32).max(1);
    let height = (size.height().ceil() as u32).max(1);
    check_dimensions(width, height, limits)?;
    Ok((width, height))
}

/// tiny-skia keeps premultiplied alpha; image expects straight alpha.
fn demultiply(rgba: &mut [u8]) {
    for pixel in rgba.chunks_exact_mut(4) {
        let alpha = u16::from(pixel[3]);
        if alpha == 0 || alpha == 255 {
            continue;
        }
        for channel in &mut pixel[..3] {
            let straight = (u16::from(*channel) * 255 + alpha / 2) / alpha;
            *channel = u8::try_from(straight.min(255)).unwrap_or(u8::MAX);
        }
    }
}

/// System fonts, loaded once per process: scanning font directories takes far longer than
/// rendering a typical document.
fn system_fonts() -> Arc<fontdb::Database> {
    static FONTS: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    let fonts = FONTS.get_or_init(|| {
        let mut database = fontdb::Database::new();
        database.load_system_fonts();
        use_installed_generic_families(&mut database);
        Arc::new(database)
    });
    Arc::clone(fonts)
}

/// fontdb maps `serif`, `sans-serif` and `monospace` to Windows fonts (Times New Roman, Arial,
/// Courier New) that servers rarely have, and usvg falls back to `serif` for any family it
/// cannot find; without this, text on such a server would silently not render.
fn use_installed_generic_families(database: &mut fontdb::Database) {
    let installed = |family: &str| {
        database
            .faces()
            .any(|face| face.families.iter().any(|(name, _)| name == family))
    };
    let pick = |preferred: &[&str]| -> Option<String> {
        let chosen = preferred
            .iter()
            .find(|family| installed(family))
            .map(|f| (*f).to_owned());
        chosen.or_else(|| {
            let first = database.faces().next()?;
            first.families.first().map(|(name, _)| name.clone())
        })
    };
    let serif = pick(&[
        "Times New Roman",
        "DejaVu Serif",
        "Liberation Serif",
        "Noto Serif",
        "FreeSerif",
    ]);
    let sans = pick(&[
        "Arial",
        "DejaVu Sans",
        "Liberation Sans",
        "Noto Sans",
        "FreeSans",
    ]);
    let mono = pick(&[
        "Courier New",
        "DejaVu Sans Mono",
        "Liberation Mono",
        "Noto Sans Mono",
        "FreeMono",
    ]);
    if let Some(family) = serif {
        database.set_serif_family(family);
    }
    if let Some(family) = sans {
        database.set_cursive_family(family.clone());
        database.set_fantasy_family(family.clone());
        database.set_sans_serif_family(family);
    }
    if let Some(family) = mono {
        database.set_monospace_family(family);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testdata;

    /// The error of a call that must fail, without printing a decoded image if it did not.
    fn refused<T>(result: Result<T>, why: &str) -> Error {
        match result {
            Ok(_) => panic!("{why}"),
            Err(err) => err,
        }
    }

    const SVG_NS: &str =
        r#"xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink""#;

    fn svg(body: &str) -> String {
        format!(r#"<svg {SVG_NS} width="40" height="30">{body}</svg>"#)
    }

    fn refusal(document: &str) -> Error {
        let limits = ImageLimits::default();
        let err = refused(
            rasterize(document.as_bytes(), &limits),
            "document must be refused",
        );
        let size_err = refused(
            svg_size(document.as_bytes(), &limits),
            "size must be refused",
        );
        assert_eq!(err.code, size_err.code);
        err
    }

    #[test]
    fn refuses_svg_referencing_local_file() {
        for href in ["file:///etc/passwd", "/etc/hostname", "../secret.png"] {
            for attribute in ["href", "xlink:href"] {
                let document = svg(&format!(
                    r#"<image {attribute}="{href}" width="10" height="10"/>"#
                ));
                let err = refusal(&document);
                assert_eq!(err.code, ErrorCode::InvalidArgument);
                assert_eq!(
                    err.message,
                    format!("svg references an external resource ({href}), which is not allowed")
                );
            }
        }
    }

    #[test]
    fn refuses_svg_referencing_the_network() {
        let cases = [
            r#"<image href="https://example.com/a.png" width="1" height="1"/>"#,
            r#"<use href="http://example.com/sprites.svg#icon"/>"#,
            r#"<rect width="5" height="5" fill="url(http://example.com/p.svg#g)"/>"#,
            r#"<rect width="5" height="5" style="fill: url( 'file:///etc/passwd' )"/>"#,
            r#"<style>@import "https://example.com/x.css";</style>"#,
            r#"<style><![CDATA[ @font-face { src: url(/usr/share/fonts/x.ttf) } ]]></style>"#,
        ];
        for body in cases {
            let err = refusal(&svg(body));
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{body}");
            assert!(
                err.message.contains("external resource"),
                "{body}: {}",
                err.message
            );
        }
        let stylesheet = format!(
            r#"<?xml-stylesheet href="https://example.com/x.css"?>{}"#,
            svg("")
        );
        assert!(refusal(&stylesheet).message.contains("external resource"));
    }

    #[test]
    fn refuses_external_reference_hidden_in_an_entity() {
        let document = format!(
            r#"<!DOCTYPE svg [ <!ENTITY img '<image href="file:///etc/passwd" width="1" height="1"/>'> ]>{}"#,
            svg("&img;")
        );
        assert!(refusal(&document).message.contains("file:///etc/passwd"));
    }

    #[test]
    fn refuses_script_and_foreign_object() {
        for element in ["script", "foreignObject"] {
            let err = refusal(&svg(&format!("<{element}/>")));
            assert_eq!(
                err.message,
                format!("svg contains a <{element}> element, which is not allowed")
            );
        }
    }

    #[test]
    fn allows_internal_references_and_links() {
        let body = r##"<defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient>
            <rect id="r" width="10" height="10"/></defs>
            <use href="#r" fill="url(#g)"/>
            <a href="https://example.com"><circle r="3" cx="20" cy="20"/></a>"##;
        let image = rasterize(svg(body).as_bytes(), &ImageLimits::default()).unwrap();
        assert_eq!(image.dimensions(), (40, 30));
        assert_eq!(image.get_pixel(5, 5).0, [255, 0, 0, 255]);
    }

    #[test]
    fn draws_embedded_data_png() {
        let mut png = Vec::new();
        image::RgbaImage::from_pixel(4, 4, image::Rgba([0, 0, 255, 255]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let href = format!("data:image/png;base64,{}", base64_encode(&png));
        let body =
            format!(r#"<image href="{href}" width="40" height="30" preserveAspectRatio="none"/>"#);
        let image = rasterize(svg(&body).as_bytes(), &ImageLimits::default()).unwrap();
        assert_eq!(image.get_pixel(20, 15).0, [0, 0, 255, 255]);
    }

    #[test]
    fn refuses_embedded_image_over_the_limits() {
        // A PNG claiming 50000x50000; resvg would try to allocate it while rendering.
        let ihdr = crate::media::decode::tests::png_claiming(50_000, 50_000);
        let href = format!("data:image/png;base64,{}", base64_encode(&ihdr));
        let body = format!(r#"<image href="{href}" width="10" height="10"/>"#);
        let err = refusal(&svg(&body));
        assert_eq!(err.code, ErrorCode::PayloadTooLarge, "{}", err.message);
    }

    #[test]
    fn refuses_embedded_svg_referencing_a_file() {
        let inner = svg(r#"<image href="file:///etc/passwd" width="1" height="1"/>"#);
        let href = format!(
            "data:image/svg+xml;base64,{}",
            base64_encode(inner.as_bytes())
        );
        let err = refusal(&svg(&format!(
            r#"<image href="{href}" width="10" height="10"/>"#
        )));
        assert_eq!(
            err.message,
            "svg embeds an image that cannot be used: \
             svg references an external resource (file:///etc/passwd), which is not allowed"
        );
    }

    #[test]
    fn leaves_out_embedded_data_that_is_no_image() {
        let href = format!("data:image/png;base64,{}", base64_encode(b"%PDF-1.7"));
        let body = format!(r#"<image href="{href}" width="10" height="10"/>"#);
        let image = rasterize(svg(&body).as_bytes(), &ImageLimits::default()).unwrap();
        assert!(image.pixels().all(|p| p.0[3] == 0));
    }

    #[test]
    fn refuses_entity_expansion_bomb() {
        let mut dtd = String::from(r#"<!ENTITY a0 "lol">"#);
        for level in 1..10 {
            let previous = format!("&a{};", level - 1).repeat(10);
            dtd.push_str(&format!(r#"<!ENTITY a{level} "{previous}">"#));
        }
        let document = format!("<!DOCTYPE svg [{dtd}]>{}", svg("<text>&a9;</text>"));
        let err = refusal(&document);
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn rasterizes_sample_svg() {
        let Some(bytes) = testdata::read("sample.svg") else {
            return;
        };
        let limits = ImageLimits::default();
        assert_eq!(svg_size(&bytes, &limits).unwrap(), (320, 200));
        let image = rasterize(&bytes, &limits).unwrap();
        assert_eq!(image.dimensions(), (320, 200));
        // The background rect, the blue circle and the magenta square.
        assert_eq!(image.get_pixel(5, 5).0, [0xfd, 0xf6, 0xe3, 255]);
        assert_eq!(image.get_pixel(100, 100).0, [0x26, 0x8b, 0xd2, 255]);
        assert_eq!(image.get_pixel(230, 100).0, [0xd3, 0x36, 0x82, 255]);
    }

    #[test]
    fn renders_text_with_generic_fonts() {
        if system_fonts().is_empty() {
            crate::test_support::unavailable(
                "no system fonts installed (apt-get install fonts-dejavu-core)",
            );
            return;
        }
        let body = r#"<rect width="200" height="40" fill="white"/>
            <text x="4" y="30" font-size="28" font-family="sans-serif">imgforge</text>"#;
        let document = format!(r#"<svg {SVG_NS} width="200" height="40">{body}</svg>"#);
        let image = rasterize(document.as_bytes(), &ImageLimits::default()).unwrap();
        let dark = image.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 50, "text should be drawn ({dark} dark pixels)");
    }

    #[test]
    fn refuses_svg_larger_than_the_limits_before_allocating() {
        let document = format!(r#"<svg {SVG_NS} width="100000" height="100000"/>"#);
        let err = refusal(&document);
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(
            err.message.starts_with("image is 100000x100000"),
            "{}",
            err.message
        );
    }

    #[test]
    fn rounds_fractional_size_up() {
        let document = format!(r#"<svg {SVG_NS} width="10.1" height="0.5"/>"#);
        assert_eq!(
            svg_size(document.as_bytes(), &ImageLimits::default()).unwrap(),
            (11, 1)
        );
    }

    #[test]
    fn reports_malformed_svg_as_invalid() {
        let err = refusal(&format!(
            r#"<svg {SVG_NS} width="10" height="10"><rect></svg>"#
        ));
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(
            err.message.starts_with("svg is not well-formed XML"),
            "{}",
            err.message
        );
    }

    #[test]
    fn keeps_transparency_as_straight_alpha() {
        let body = r#"<rect width="40" height="30" fill="rgb(200,100,50)" fill-opacity="0.5"/>"#;
        let image = rasterize(svg(body).as_bytes(), &ImageLimits::default()).unwrap();
        let [r, g, b, a] = image.get_pixel(10, 10).0;
        assert!((127..=128).contains(&a), "alpha {a}");
        assert!(r.abs_diff(200) <= 2 && g.abs_diff(100) <= 2 && b.abs_diff(50) <= 2);
    }

    #[test]
    fn refuses_deep_nesting_before_usvg_recurses() {
        let depth = 3_100;
        let document = svg(&format!("{}{}", "<g>".repeat(depth), "</g>".repeat(depth)));
        // On a small stack, as a worker's: usvg would overflow it.
        let err = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || refusal(&document))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(
            err.message.contains("limits.svg_max_depth"),
            "{}",
            err.message
        );
    }

    #[test]
    fn draws_documents_nested_up_to_the_limit() {
        let limits = ImageLimits::default();
        // The root <svg> is one level.
        let depth = limits.svg_max_depth as usize - 2;
        let body = format!(
            r#"{}<rect width="10" height="10" fill="red"/>{}"#,
            "<g>".repeat(depth),
            "</g>".repeat(depth)
        );
        let image = rasterize(svg(&body).as_bytes(), &limits).unwrap();
        assert_eq!(image.get_pixel(5, 5).0, [255, 0, 0, 255]);
    }

    #[test]
    fn refuses_too_many_elements() {
        let limits = ImageLimits {
            svg_max_elements: 50,
            ..ImageLimits::default()
        };
        let document = svg(&"<rect/>".repeat(60));
        let err = refused(svg_size(document.as_bytes(), &limits), "must refuse");
        assert!(
            err.message.contains("limits.svg_max_elements"),
            "{}",
            err.message
        );
    }

    #[test]
    fn refuses_a_blur_over_a_huge_canvas_before_drawing() {
        let document = format!(
            r#"<svg {SVG_NS} width="7000" height="7000"><filter id="f"><feGaussianBlur stdDeviation="90"/></filter><rect width="7000" height="7000" filter="url(#f)"/></svg>"#
        );
        let started = std::time::Instant::now();
        let err = refusal(&document);
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(
            err.message.contains("limits.svg_max_render_cost"),
            "{}",
            err.message
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn draws_a_modest_blur() {
        let body = r#"<filter id="f"><feGaussianBlur stdDeviation="2"/></filter>
            <rect width="40" height="30" fill="blue" filter="url(#f)"/>"#;
        let image = rasterize(svg(body).as_bytes(), &ImageLimits::default()).unwrap();
        assert_eq!(image.get_pixel(20, 15).0[2], 255);
    }

    #[test]
    fn an_overdue_job_stops_rendering() {
        let body = r#"<rect width="10" height="10"/>"#;
        let err = crate::media::cancel::run_here(std::time::Duration::ZERO, || {
            rasterize(svg(body).as_bytes(), &ImageLimits::default())
        })
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::DeadlineExceeded);
    }

    fn base64_encode(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}
