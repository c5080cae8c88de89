//! Byte patterns: `"55 8B EC ?? 3C"`, two hex digits per byte, `??` or `xx`
//! for a byte that can be anything.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// Bytes, some of which may be anything (`None`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Pattern(Vec<Option<u8>>);

impl Pattern {
    /// Parses `"55 8B ?? EC"`; `Err` says which word is wrong.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        text.split_whitespace()
            .map(|word| match word {
                "??" | "xx" | "XX" => Ok(None),
                _ if word.len() == 2 => u8::from_str_radix(word, 16).map(Some).map_err(|_| word),
                _ => Err(word),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Pattern)
            .map_err(|word| format!("{word:?} is not a byte (two hex digits, or ?? for any)"))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has_wildcards(&self) -> bool {
        self.0.iter().any(Option::is_none)
    }

    /// Whether `code` starts with these bytes.
    pub fn matches(&self, code: &[u8]) -> bool {
        code.len() >= self.0.len() && self.0.iter().zip(code).all(|(want, &got)| want.is_none_or(|w| w == got))
    }

    /// Each byte, `None` where it can be anything.
    pub fn iter(&self) -> impl Iterator<Item = Option<u8>> + '_ {
        self.0.iter().copied()
    }

    /// The bytes, wildcards as 0 (for patches, which have none).
    pub fn bytes(&self) -> Vec<u8> {
        self.0.iter().map(|b| b.unwrap_or(0)).collect()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            match byte {
                Some(b) => write!(f, "{sep}{b:02X}")?,
                None => write!(f, "{sep}??")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Pattern, D::Error> {
        let text = String::deserialize(deserializer)?;
        Pattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_print_and_match() {
        let p = Pattern::parse("55 8b EC ?? xx").unwrap();
        assert_eq!(p.to_string(), "55 8B EC ?? ??");
        assert!(p.has_wildcards());
        assert!(p.matches(&[0x55, 0x8B, 0xEC, 1, 2, 3]));
        assert!(!p.matches(&[0x55, 0x8B, 0xED, 1, 2]));
        assert!(!p.matches(&[0x55, 0x8B]));
        assert_eq!(Pattern::parse("").unwrap().len(), 0);
        assert!(Pattern::parse("5").is_err());
        assert!(Pattern::parse("GG").is_err());
        assert!(Pattern::parse("558B").is_err());
    }
}
