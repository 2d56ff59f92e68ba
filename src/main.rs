//! The `vpc-router` binary: parse the command line, snapshot the
//! environment, and hand both to the library. All logic is in `lib.rs`.

use std::process::ExitCode;

use vpc_router::aws::{Clock, Env};
use vpc_router::{cli, exit};

fn main() -> ExitCode {
    let (config, notices) = cli::parse_noting(std::env::args_os().skip(1));
    for n in notices {
        eprintln!("vpc-router: {n}");
    }
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vpc-router: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let env = Env::from_process();
    let code = vpc_router::run(
        &config,
        &env,
        Clock::system(),
        &mut std::io::stdout().lock(),
    );
    ExitCode::from(code)
}
