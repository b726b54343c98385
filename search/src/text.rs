//! How text becomes terms, for the documents and the queries alike.
//!
//! Text is NFKC-normalized, then cut into words: a run of letters or digits
//! of a script that separates words with spaces is one word; a run of
//! Korean, Chinese or Japanese characters is cut into overlapping bigrams
//! ("五月天" → "五月", "月天"), because Chinese and Japanese put no spaces
//! between words and Korean attaches particles to them, so a query's
//! characters must be able to match inside a longer run. A run of one such
//! character is that character. Words are lower-cased and ASCII-folded
//! ("Café" → "cafe"), so accents may be typed or left out.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenStream, Tokenizer,
};
use unicode_normalization::UnicodeNormalization;

/// The name the analyzer is registered under in the index.
pub const ANALYZER: &str = "boxoffice_text";
/// Longer terms are dropped at indexing (a 10,000-letter "word" is no word).
pub const MAX_TERM_BYTES: usize = 100;

/// Korean, Chinese and Japanese characters: bigram runs rather than words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF     // Hangul Jamo
        | 0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3130..=0x318F   // Hangul Compatibility Jamo
        | 0x3400..=0x4DBF   // CJK Extension A
        | 0x4E00..=0x9FFF   // CJK Unified Ideographs
        | 0xA960..=0xA97F   // Hangul Jamo Extended-A
        | 0xAC00..=0xD7AF   // Hangul Syllables
        | 0xD7B0..=0xD7FF   // Hangul Jamo Extended-B
        | 0xF900..=0xFAFF   // CJK Compatibility Ideographs
        | 0x20000..=0x3FFFF // CJK Extensions B and later
    )
}

/// One term of the text, before lower-casing and folding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    /// A Korean, Chinese or Japanese bigram (or lone character): matched exactly, never fuzzily.
    pub cjk: bool,
}

/// Cuts NFKC-normalized `text` into words and CJK bigrams, in order.
pub fn pieces(text: &str) -> Vec<Piece> {
    let normalized: String = text.nfkc().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    for c in normalized.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut out);
            run.push(c);
        } else if c.is_alphanumeric() {
            flush_run(&mut run, &mut out);
            word.push(c);
        } else {
            flush_word(&mut word, &mut out);
            flush_run(&mut run, &mut out);
        }
    }
    flush_word(&mut word, &mut out);
    flush_run(&mut run, &mut out);
    out
}

fn flush_word(word: &mut String, out: &mut Vec<Piece>) {
    if !word.is_empty() {
        out.push(Piece {
            text: std::mem::take(word),
            cjk: false,
        });
    }
}

fn flush_run(run: &mut Vec<char>, out: &mut Vec<Piece>) {
    match run.len() {
        0 => {}
        1 => out.push(Piece {
            text: run[0].to_string(),
            cjk: true,
        }),
        _ => out.extend(run.windows(2).map(|pair| Piece {
            text: pair.iter().collect(),
            cjk: true,
        })),
    }
    run.clear();
}

/// The terms of `text` as the index holds them (lower-cased, folded).
pub fn terms(text: &str) -> Vec<Piece> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let cjk: Vec<bool> = pieces(text).into_iter().map(|p| p.cjk).collect();
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(Piece {
            text: token.text.clone(),
            // Positions are the pieces' indexes (see `PiecesTokenizer`).
            cjk: cjk.get(token.position).copied().unwrap_or(false),
        });
    }
    out
}

/// The analyzer of every text field: pieces, lower-cased, ASCII-folded.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(PiecesTokenizer)
        .filter(RemoveLongFilter::limit(MAX_TERM_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// [`pieces`] as a tantivy tokenizer. Offsets are into the normalized text,
/// which nothing reads (no highlighting).
#[derive(Clone, Copy, Debug, Default)]
pub struct PiecesTokenizer;

pub struct PiecesStream {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl Tokenizer for PiecesTokenizer {
    type TokenStream<'a> = PiecesStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> PiecesStream {
        let mut offset = 0;
        let tokens: Vec<Token> = pieces(text)
            .into_iter()
            .enumerate()
            .map(|(position, piece)| {
                let len = piece.text.len();
                let token = Token {
                    offset_from: offset,
                    offset_to: offset + len,
                    position,
                    text: piece.text,
                    position_length: 1,
                };
                offset += len;
                token
            })
            .collect();
        PiecesStream {
            tokens: tokens.into_iter(),
            current: Token::default(),
        }
    }
}

impl TokenStream for PiecesStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        terms(text).into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn latin_words_are_lower_cased_and_folded() {
        assert_eq!(texts("Café  AURORA-Live!"), ["cafe", "aurora", "live"]);
        assert_eq!(texts("Ｆｕｌｌ ｗｉｄｔｈ"), ["full", "width"]);
    }

    #[test]
    fn cjk_runs_become_bigrams_and_mark_themselves() {
        assert_eq!(texts("五月天 Live"), ["五月", "月天", "live"]);
        assert_eq!(texts("아이유 콘서트"), ["아이", "이유", "콘서", "서트"]);
        assert_eq!(texts("天"), ["天"]);
        let cjk: Vec<bool> = terms("五月天 live").into_iter().map(|p| p.cjk).collect();
        assert_eq!(cjk, [true, true, false]);
    }

    #[test]
    fn controls_and_punctuation_separate_and_vanish() {
        assert_eq!(texts("\u{0}a\u{7}b\t\n--c"), ["a", "b", "c"]);
        assert!(texts("!!! \u{1F600}").is_empty());
    }

    #[test]
    fn overlong_words_are_dropped() {
        let long = "x".repeat(MAX_TERM_BYTES + 1);
        assert_eq!(texts(&format!("{long} ok")), ["ok"]);
    }
}
