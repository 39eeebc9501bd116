//! Input tokens of the media a request carries inline, by Google's published rules (Gemini API
//! "Understand and count tokens"): an image is 258 tokens per 768×768 tile (one tile when it is
//! at most 384 px both ways), audio 32 tokens a second, video 263 a second, a PDF 258 a page,
//! text files 4 characters a token. What the bytes do not tell (an image whose header
//! `imagesize` cannot read, a media length) is estimated conservatively; the answer's
//! `usageMetadata.promptTokenCount` settles the reservation anyway.

use base64::Engine as _;

/// Tokens per image tile.
pub const IMAGE_TILE_TOKENS: u64 = 258;
/// An image whose dimensions are not read here (Gemini 3's default high media resolution).
const IMAGE_UNKNOWN_TOKENS: u64 = 1_120;
/// Tokens per second of audio.
const AUDIO_TOKENS_PER_SECOND: u64 = 32;
/// Tokens per second of video.
const VIDEO_TOKENS_PER_SECOND: u64 = 263;
/// Tokens per PDF page.
const PDF_PAGE_TOKENS: u64 = 258;
/// Bytes a second assumed for audio (128 kbit/s) and video (1 Mbit/s).
const AUDIO_BYTES_PER_SECOND: u64 = 16_000;
const VIDEO_BYTES_PER_SECOND: u64 = 125_000;

/// The tokens of one inline part: `mime` and its base64 `data`.
pub fn inline_tokens(mime: &str, data: &str) -> u64 {
    let padding = data.bytes().rev().take_while(|&b| b == b'=').count() as u64;
    let bytes = (data.len() as u64 * 3 / 4).saturating_sub(padding);
    let mime = mime.to_ascii_lowercase();
    if mime.starts_with("image/") {
        // The dimensions are in the first bytes of the file (PNG, JPEG, GIF, WebP, HEIF, …).
        let head = decode_prefix(data, 64 * 1024);
        imagesize::blob_size(&head).map_or(IMAGE_UNKNOWN_TOKENS, |d| {
            image_tokens(d.width as u64, d.height as u64)
        })
    } else if mime.starts_with("audio/") {
        bytes.div_ceil(AUDIO_BYTES_PER_SECOND).max(1) * AUDIO_TOKENS_PER_SECOND
    } else if mime.starts_with("video/") {
        bytes.div_ceil(VIDEO_BYTES_PER_SECOND).max(1) * VIDEO_TOKENS_PER_SECOND
    } else if mime == "application/pdf" {
        let all = decode_prefix(data, usize::MAX);
        pdf_pages(&all).max(1) * PDF_PAGE_TOKENS
    } else {
        bytes.div_ceil(4)
    }
}

/// The tokens of an image of `w` × `h` pixels: one tile up to 384 px both ways, else one per
/// 768 × 768 tile.
pub fn image_tokens(w: u64, h: u64) -> u64 {
    if w <= 384 && h <= 384 {
        IMAGE_TILE_TOKENS
    } else {
        w.div_ceil(768).max(1) * h.div_ceil(768).max(1) * IMAGE_TILE_TOKENS
    }
}

/// The first `max` decoded bytes of base64 `data` (or fewer when it is shorter or not base64).
fn decode_prefix(data: &str, max: usize) -> Vec<u8> {
    // Whole 4-character groups only, so a prefix decodes.
    let take = data
        .len()
        .min(max.saturating_mul(4) / 3 / 4 * 4)
        .min(data.len() / 4 * 4);
    let prefix = data.get(..take).unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(prefix)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(prefix))
        .unwrap_or_default()
}

/// Pages of a PDF: its `/Type /Page` objects (not `/Pages`).
fn pdf_pages(b: &[u8]) -> u64 {
    let mut n = 0;
    for pattern in [&b"/Type /Page"[..], &b"/Type/Page"[..]] {
        let mut i = 0;
        while let Some(at) = b.get(i..).and_then(|rest| find(rest, pattern)) {
            let end = i + at + pattern.len();
            if b.get(end) != Some(&b's') {
                n += 1;
            }
            i = end;
        }
    }
    n
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn images_count_by_their_tiles() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&1600u32.to_be_bytes());
        png.extend_from_slice(&900u32.to_be_bytes());
        png.extend_from_slice(&[0; 64]);
        // 1600 × 900: 3 × 2 tiles.
        assert_eq!(inline_tokens("image/png", &b64(&png)), 6 * 258);
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&300u16.to_le_bytes());
        gif.extend_from_slice(&200u16.to_le_bytes());
        gif.extend_from_slice(&[0; 16]);
        assert_eq!(inline_tokens("image/gif", &b64(&gif)), 258);
        // A JPEG: SOI, an APP0 segment, then SOF0 with height 1000 and width 2000.
        let mut jpg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0, 0];
        jpg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08]);
        jpg.extend_from_slice(&1000u16.to_be_bytes());
        jpg.extend_from_slice(&2000u16.to_be_bytes());
        jpg.extend_from_slice(&[0; 16]);
        assert_eq!(inline_tokens("image/jpeg", &b64(&jpg)), 3 * 2 * 258);
        assert_eq!(
            inline_tokens("image/png", &b64(&[0; 32])),
            1_120,
            "unreadable header"
        );
    }

    #[test]
    fn audio_video_pdf_and_text_count_by_their_rules() {
        // 10 s of 128 kbit/s audio: 320 tokens.
        assert_eq!(
            inline_tokens("audio/mp3", &"A".repeat(160_000 * 4 / 3)),
            320
        );
        assert_eq!(
            inline_tokens("video/mp4", &"A".repeat(250_000 * 4 / 3)),
            2 * 263
        );
        let pdf =
            b"%PDF-1.7 1 0 obj << /Type /Pages >> 2 0 obj << /Type /Page >> 3 0 obj <</Type/Page>>";
        assert_eq!(inline_tokens("application/pdf", &b64(pdf)), 2 * 258);
        assert_eq!(inline_tokens("text/plain", &b64(&[b'x'; 400])), 100);
    }
}
