//! The profile reader on arbitrary text: it never panics, and whatever it
//! accepts passes its own checks (something identifies the executable,
//! patches write known bytes).
#![no_main]

use game_profile::Profile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Profile::parse(text) {
        Ok(profile) => {
            assert!(!profile.executable.expect.is_empty());
            for patch in profile.groups.iter().flat_map(|g| &g.patches) {
                assert!(!patch.bytes.has_wildcards() && patch.expect.len() >= patch.bytes.len());
            }
        }
        Err(error) => {
            if let Some(line) = error.line {
                assert!(line >= 1 && line <= 1 + text.matches('\n').count(), "{error}");
            }
        }
    }
});
