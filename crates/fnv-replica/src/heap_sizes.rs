//! xNVSE's `[Memory]` settings (`Data\NVSE\nvse_config.ini`), as its loader
//! applies them before the game's static initialisers: xNVSE's
//! `nvse/nvse/Hooks_Memory.cpp` (`Hooks_Memory_PreloadCommit`, 6.3.6 on, run
//! by `nvse_steam_loader.dll`). Each heap's size in MB is clamped between
//! its vanilla size and a maximum, and written over the constant the heaps'
//! creation pushes (`SafeWrite32`, MB * 0x100000) when it differs from the
//! vanilla size. Versions before 6.3.6 clamped the Default heap to 200-500
//! and had no File heap key.

/// One heap xNVSE sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heap {
    /// As xNVSE's log names it.
    pub name: &'static str,
    pub vanilla_mb: u32,
    pub max_mb: u32,
    /// The dword xNVSE writes: the immediate of the game's `push`.
    pub address: usize,
}

pub const DEFAULT: Heap = Heap { name: "Default", vanilla_mb: 200, max_mb: 1024, address: 0x0086_6EA0 };
pub const FILE: Heap = Heap { name: "File", vanilla_mb: 64, max_mb: 192, address: 0x0086_6F89 };

/// What xNVSE makes of a size asked for: the size in force, whether it
/// writes it, and the lines it logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub mb: u32,
    pub written: bool,
    pub lines: Vec<String>,
}

impl Heap {
    /// xNVSE's steps for `requested` MB (a key not in the file reads as 0).
    pub fn apply(&self, requested: u32) -> Applied {
        let mut lines = Vec::new();
        let mb = if requested > self.max_mb {
            lines.push(format!(
                "Warning: {} heap size is greater than maximum allowed value. Using maximum value of {}",
                self.name, self.max_mb
            ));
            self.max_mb
        } else if requested < self.vanilla_mb {
            lines.push(format!(
                "Warning: {} heap size is less than vanilla value. Using vanilla value of {}",
                self.name, self.vanilla_mb
            ));
            self.vanilla_mb
        } else {
            requested
        };
        let written = mb != self.vanilla_mb;
        if written {
            lines.push(format!("Overriding {} heap size: {mb}MB", self.name));
        }
        Applied { mb, written, lines }
    }

    /// The bytes the game's code then reserves for the heap.
    pub fn bytes(mb: u32) -> u32 {
        mb * 0x10_0000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_clamped_and_written_as_xnvse_does() {
        let vanilla = DEFAULT.apply(200);
        assert_eq!(vanilla, Applied { mb: 200, written: false, lines: vec![] });
        let larger = DEFAULT.apply(768);
        assert_eq!((larger.mb, larger.written), (768, true));
        assert_eq!(larger.lines, ["Overriding Default heap size: 768MB"]);
        let too_large = DEFAULT.apply(4096);
        assert_eq!((too_large.mb, too_large.written), (1024, true));
        assert_eq!(
            too_large.lines,
            [
                "Warning: Default heap size is greater than maximum allowed value. Using maximum value of 1024",
                "Overriding Default heap size: 1024MB"
            ]
        );
        let too_small = FILE.apply(0);
        assert_eq!((too_small.mb, too_small.written), (64, false));
        assert_eq!(too_small.lines, ["Warning: File heap size is less than vanilla value. Using vanilla value of 64"]);
        assert_eq!(FILE.apply(192).mb, 192);
        assert_eq!(FILE.apply(193).mb, 192);
        assert_eq!(Heap::bytes(200), 0x0C80_0000);
        assert_eq!(Heap::bytes(64), 0x0400_0000);
    }
}
