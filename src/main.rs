//! The `vpc-router` binary: parse the command line, snapshot the
//! environment, and hand both to the library. All logic is in `lib.rs`.

use std::process::ExitCode;

use vpc_router::aws::{Clock, Env};
use vpc_router::{cli, exit};

fn main() -> ExitCode {
    let config = match cli::parse(std::env::args_os().skip(1)) {
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
