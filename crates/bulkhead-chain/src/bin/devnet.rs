//! `devnet` — demo and benchmark support (feature `devnet`): start a local
//! anvil, deploy the fixture contracts, write a run config with the
//! `[chain]` section for them, run a command against it, stop anvil.
//!
//! `devnet run TEMPLATE OUT_DIR -- COMMAND ARGS...`: `OUT_DIR/demo.toml` =
//! TEMPLATE + the `[chain]` table; `{config}` in the arguments is replaced by
//! that path. Exits with the command's status.

use std::process::ExitCode;

use bulkhead_chain::devnet::Devnet;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some("run"), Some(template), Some(out)) = (args.first().map(String::as_str), args.get(1), args.get(2)) else {
        eprintln!("usage: devnet run TEMPLATE OUT_DIR -- COMMAND ARGS... ({{config}} = the written config)");
        return ExitCode::from(2);
    };
    let cmd: Vec<&String> = args.iter().skip(3).skip_while(|a| *a == "--").collect();
    let Some((program, rest)) = cmd.split_first() else {
        eprintln!("devnet: no command after --");
        return ExitCode::from(2);
    };
    match run(template, out, program, rest) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("devnet: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(template: &str, out: &str, program: &str, rest: &[&String]) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(template).map_err(|e| format!("{template}: {e}"))?;
    std::fs::create_dir_all(out).map_err(|e| format!("{out}: {e}"))?;
    let net = Devnet::start().map_err(|e| e.to_string())?;
    let demo = net.deploy_demo().map_err(|e| e.to_string())?;
    let config = std::path::Path::new(out).join("demo.toml");
    std::fs::write(&config, format!("{text}\n{}", demo.chain_toml))
        .map_err(|e| format!("{}: {e}", config.display()))?;
    eprintln!("devnet: anvil at {} with the demo contracts; config {}", net.url(), config.display());
    let config = config.display().to_string();
    let status = std::process::Command::new(program)
        .args(rest.iter().map(|a| a.replace("{config}", &config)))
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    // Stopping anvil (Drop) after the command, whatever it did.
    drop(demo);
    drop(net);
    Ok(ExitCode::from(status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1)))
}
