//! Normalised tokens of a description, each with its place in the text as written (so refusals
//! quote the user's own words).
//!
//! Normalisation: lower case; `%K %D %R %B +DI -DI` are words; a number glued to letters is split
//! (`sma200` → `sma 200`, `3x` → `3 x`); a hyphen between a word and a number or between words
//! is a space (`RSI-2`, `20-day`, `stop-loss`); a minus before a digit after a space or an
//! operator is a sign (`below -80`); `9:30` is a time of day; number words (`two`, `half`) are
//! numbers; `≥ ≤ × – —` mean `>= <= x , ,`; `'s` goes (`yesterday's close`), except `it's`.

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A word, lower case.
    Word(String),
    /// A number.
    Num(f64),
    /// A time of day, in minutes after midnight (`9:30` → 570).
    Time(u32),
    /// An operator or punctuation: `< > <= >= = != ( ) [ ] , ; . : % / + - * & -> \n`.
    Sym(&'static str),
}

/// A token and the bytes of the original text it came from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

const NUMBER_WORDS: [(&str, f64); 16] = [
    ("one", 1.0),
    ("two", 2.0),
    ("three", 3.0),
    ("four", 4.0),
    ("five", 5.0),
    ("six", 6.0),
    ("seven", 7.0),
    ("eight", 8.0),
    ("nine", 9.0),
    ("ten", 10.0),
    ("eleven", 11.0),
    ("twelve", 12.0),
    ("fifteen", 15.0),
    ("twenty", 20.0),
    ("fifty", 50.0),
    ("hundred", 100.0),
];

fn sym_of(c: char) -> Option<&'static str> {
    Some(match c {
        '<' => "<",
        '>' => ">",
        '=' => "=",
        '(' => "(",
        ')' => ")",
        '[' => "[",
        ']' => "]",
        ',' | '–' | '—' => ",",
        ';' => ";",
        '.' | '!' | '?' => ".",
        ':' => ":",
        '%' => "%",
        '/' => "/",
        '+' => "+",
        '*' | '×' => "*",
        '≥' => ">=",
        '≤' => "<=",
        '→' => "->",
        '\n' => "\n",
        '&' => "&",
        _ => return None,
    })
}

/// Splits a description into tokens.
#[expect(
    clippy::too_many_lines,
    clippy::many_single_char_names,
    reason = "one scanner over the characters, one branch per kind of token"
)]
pub(super) fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let lower = |i: usize| chars[i].1.to_lowercase().next().unwrap_or(chars[i].1);
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = lower(i);
        let start = chars[i].0;
        let prev = i.checked_sub(1).map(|p| chars[p].1);
        let next = chars.get(i + 1).map(|(_, c)| c.to_ascii_lowercase());
        let digit_next = next.is_some_and(|n| n.is_ascii_digit());
        if c.is_whitespace() && c != '\n' {
            i += 1;
            continue;
        }
        // `%k %d %r %b` (not `5%`): words.
        if c == '%'
            && matches!(next, Some('k' | 'd' | 'r' | 'b'))
            && !chars.get(i + 2).is_some_and(|(_, c)| c.is_alphanumeric())
            && !prev.is_some_and(|p| p.is_ascii_digit())
        {
            out.push(Token {
                tok: Tok::Word(format!("%{}", next.unwrap_or('k'))),
                start,
                end: end_of(i + 2),
            });
            i += 2;
            continue;
        }
        // `+di` / `-di`.
        if (c == '+' || c == '-')
            && next == Some('d')
            && chars
                .get(i + 2)
                .is_some_and(|(_, c)| c.eq_ignore_ascii_case(&'i'))
            && !chars.get(i + 3).is_some_and(|(_, c)| c.is_alphanumeric())
        {
            let w = if c == '+' { "+di" } else { "-di" };
            out.push(Token {
                tok: Tok::Word(w.to_owned()),
                start,
                end: end_of(i + 3),
            });
            i += 3;
            continue;
        }
        let sign = (c == '-' || c == '+')
            && digit_next
            && prev.is_none_or(|p| p.is_whitespace() || "(<>=,[:".contains(p));
        if c.is_ascii_digit() || sign || (c == '.' && digit_next) {
            let mut j = i + usize::from(sign);
            let mut s = String::from(if sign && c == '-' { "-" } else { "" });
            while j < chars.len() {
                let d = chars[j].1;
                let next_digit = chars.get(j + 1).is_some_and(|(_, c)| c.is_ascii_digit());
                if d.is_ascii_digit() || (d == '.' && next_digit && !s.contains('.')) {
                    s.push(d);
                    j += 1;
                } else if d == ','
                    && next_digit
                    && chars.get(j + 4).is_none_or(|(_, c)| !c.is_ascii_digit())
                    && chars[j + 1..]
                        .iter()
                        .take(3)
                        .all(|(_, c)| c.is_ascii_digit())
                    && s.len() <= 3
                    && !s.contains('.')
                {
                    // 10,000
                    j += 1;
                } else {
                    break;
                }
            }
            // `9:30`: a time of day.
            if !sign
                && chars.get(j).is_some_and(|(_, c)| *c == ':')
                && chars[j + 1..].len() >= 2
                && chars[j + 1].1.is_ascii_digit()
                && chars[j + 2].1.is_ascii_digit()
                && chars.get(j + 3).is_none_or(|(_, c)| !c.is_ascii_digit())
            {
                let h: u32 = s.parse().unwrap_or(u32::MAX);
                let m = chars[j + 1].1.to_digit(10).unwrap_or(0) * 10
                    + chars[j + 2].1.to_digit(10).unwrap_or(0);
                out.push(Token {
                    tok: Tok::Time(h.saturating_mul(60).saturating_add(m)),
                    start,
                    end: end_of(j + 3),
                });
                i = j + 3;
                continue;
            }
            out.push(Token {
                tok: Tok::Num(s.parse().unwrap_or(f64::NAN)),
                start,
                end: end_of(j),
            });
            i = j;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let mut j = i;
            let mut w = String::new();
            while j < chars.len() && (chars[j].1.is_alphabetic() || chars[j].1 == '_') {
                w.extend(chars[j].1.to_lowercase());
                j += 1;
            }
            // `DI+` / `DI-`, as `+di` / `-di`.
            if w == "di"
                && chars.get(j).is_some_and(|(_, c)| *c == '+' || *c == '-')
                && !chars.get(j + 1).is_some_and(|(_, c)| c.is_alphanumeric())
            {
                let sign = if chars[j].1 == '+' { "+di" } else { "-di" };
                out.push(Token {
                    tok: Tok::Word(sign.to_owned()),
                    start,
                    end: end_of(j + 1),
                });
                i = j + 1;
                continue;
            }
            // `it's` → `it is`; other `'s` (possessive) go.
            if chars.get(j).is_some_and(|(_, c)| *c == '\'' || *c == '’')
                && chars
                    .get(j + 1)
                    .is_some_and(|(_, c)| c.eq_ignore_ascii_case(&'s'))
                && chars.get(j + 2).is_none_or(|(_, c)| !c.is_alphanumeric())
            {
                let possessive_end = end_of(j + 2);
                if w == "it" || w == "that" {
                    out.push(Token {
                        tok: Tok::Word(w),
                        start,
                        end: end_of(j),
                    });
                    out.push(Token {
                        tok: Tok::Word("is".into()),
                        start: end_of(j),
                        end: possessive_end,
                    });
                } else {
                    out.push(Token {
                        tok: Tok::Word(w),
                        start,
                        end: possessive_end,
                    });
                }
                i = j + 2;
                continue;
            }
            let tok = NUMBER_WORDS
                .iter()
                .find(|(n, _)| *n == w)
                .map_or(Tok::Word(w), |(_, v)| Tok::Num(*v));
            out.push(Token {
                tok,
                start,
                end: end_of(j),
            });
            i = j;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())]
            .iter()
            .map(|(_, c)| *c)
            .collect();
        let double = match two.as_str() {
            "<=" | "=<" => Some("<="),
            ">=" | "=>" => Some(">="),
            "!=" | "<>" => Some("!="),
            "==" => Some("="),
            "->" => Some("->"),
            "&&" => Some("&"),
            _ => None,
        };
        if let Some(s) = double {
            out.push(Token {
                tok: Tok::Sym(s),
                start,
                end: end_of(i + 2),
            });
            i += 2;
            continue;
        }
        if c == '-' {
            // ` - ` between spaces is a minus; a hyphen inside or between words is a space.
            if prev.is_some_and(char::is_whitespace) && next.is_some_and(char::is_whitespace) {
                out.push(Token {
                    tok: Tok::Sym("-"),
                    start,
                    end: end_of(i + 1),
                });
            }
            i += 1;
            continue;
        }
        match sym_of(c) {
            Some(s) => out.push(Token {
                tok: Tok::Sym(s),
                start,
                end: end_of(i + 1),
            }),
            None => {
                if !matches!(
                    c,
                    '"' | '\'' | '`' | '’' | '‘' | '“' | '”' | '$' | '#' | '~'
                ) {
                    out.push(Token {
                        tok: Tok::Word(c.to_string()),
                        start,
                        end: end_of(i + 1),
                    });
                }
            }
        }
        i += 1;
    }
    // A period straight after a number that ends the sentence was read as part of nothing; a
    // word glued to a number (`sma200`, `3x`, `200dma`) was split by the loops above already.
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).into_iter().map(|t| t.tok).collect()
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.into())
    }

    #[test]
    fn shorthand_is_split_and_signs_are_kept() {
        assert_eq!(toks("RSI<30"), [w("rsi"), Tok::Sym("<"), Tok::Num(30.0)]);
        assert_eq!(toks("RSI-2"), [w("rsi"), Tok::Num(2.0)]);
        assert_eq!(toks("sma200"), [w("sma"), Tok::Num(200.0)]);
        assert_eq!(toks("3x ATR"), [Tok::Num(3.0), w("x"), w("atr")]);
        assert_eq!(toks("%R below -80"), [w("%r"), w("below"), Tok::Num(-80.0)]);
        assert_eq!(toks("20-day"), [Tok::Num(20.0), w("day")]);
        assert_eq!(toks("5%"), [Tok::Num(5.0), Tok::Sym("%")]);
        assert_eq!(toks("at 9:30"), [w("at"), Tok::Time(570)]);
        assert_eq!(toks("it's"), [w("it"), w("is")]);
        assert_eq!(toks("yesterday's high"), [w("yesterday"), w("high")]);
        assert_eq!(toks("+DI > -DI"), [w("+di"), Tok::Sym(">"), w("-di")]);
        assert_eq!(toks("DI+ > DI-"), [w("+di"), Tok::Sym(">"), w("-di")]);
        assert_eq!(toks("$10,000"), [Tok::Num(10_000.0)]);
        assert_eq!(toks("two"), [Tok::Num(2.0)]);
    }

    #[test]
    fn spans_point_at_the_words_as_written() {
        let text = "Buy when RSI(2) drops";
        let t = tokenize(text);
        assert_eq!(&text[t[2].start..t[2].end], "RSI");
        assert_eq!(&text[t.last().map_or(0, |t| t.start)..], "drops");
    }
}
