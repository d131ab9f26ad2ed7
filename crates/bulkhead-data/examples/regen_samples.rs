//! Regenerate the sample files: `cargo run -p bulkhead-data --example regen_samples [DIR]`
//! (default: the workspace's `examples/data/`).

fn main() -> std::io::Result<()> {
    let dir =
        std::env::args().nth(1).map(std::path::PathBuf::from).unwrap_or_else(bulkhead_data::samples::examples_data_dir);
    for p in bulkhead_data::samples::write_samples(&dir)? {
        println!("{} ({} bytes)", p.display(), std::fs::metadata(&p)?.len());
    }
    Ok(())
}
