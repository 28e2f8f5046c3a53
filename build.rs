// New migration files must rebuild the binary that embeds them.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    // The compiler's version, for the build-info metric.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GUESTBOOK_RUSTC_VERSION={version}");
}
