//! A ticket's QR code as a PNG image, for mail clients (which show inline
//! PNGs but not SVG): the `qrcode` crate's modules, scaled up with the
//! standard quiet zone, written as a 1-bit grayscale PNG.

use qrcode::{Color, QrCode};

/// Pixels per QR module: about 200-300 px for a ticket code, sharp on
/// screens and scanners.
pub const PIXELS_PER_MODULE: usize = 4;
/// Light modules around the code, as the QR standard asks.
pub const QUIET_ZONE_MODULES: usize = 4;

/// The PNG bytes of `text`'s QR code, and its side in pixels.
pub fn png(text: &str) -> Result<(Vec<u8>, u32), String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("QR code: {e}"))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let side = side_modules * PIXELS_PER_MODULE;
    // One bit per pixel, rows padded to whole bytes; 1 = white.
    let row_bytes = side.div_ceil(8);
    let mut pixels = vec![0xFFu8; row_bytes * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules, i / modules);
        for dy in 0..PIXELS_PER_MODULE {
            let y = (my + QUIET_ZONE_MODULES) * PIXELS_PER_MODULE + dy;
            for dx in 0..PIXELS_PER_MODULE {
                let x = (mx + QUIET_ZONE_MODULES) * PIXELS_PER_MODULE + dx;
                pixels[y * row_bytes + x / 8] &= !(0x80 >> (x % 8));
            }
        }
    }
    let side_px = u32::try_from(side).map_err(|_| "QR code too large".to_string())?;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side_px, side_px);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        let mut writer = encoder.write_header().map_err(|e| format!("PNG: {e}"))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| format!("PNG: {e}"))?;
    }
    Ok((out, side_px))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_becomes_a_png_of_the_expected_size() {
        let (bytes, side) = png("BXT1.ticket.signature").expect("encodes");
        assert_eq!(&bytes[1..4], b"PNG");
        let decoder = png::Decoder::new(bytes.as_slice());
        let reader = decoder.read_info().expect("decodes");
        assert_eq!(reader.info().width, side);
        assert_eq!(side as usize % PIXELS_PER_MODULE, 0);
    }
}
