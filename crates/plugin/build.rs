//! Names the build in the log's first line: the commit it was built from
//! (`git describe`), or `unknown` outside a git checkout.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["describe", "--always", "--abbrev=10"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MEMORYPOOL_BUILD={commit}");
    // A new commit or a change of branch gives a new name.
    for file in ["../../.git/HEAD", "../../.git/index"] {
        println!("cargo:rerun-if-changed={file}");
    }
}
