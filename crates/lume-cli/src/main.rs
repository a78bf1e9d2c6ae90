//! `lume`: the LUME unlearning benchmark from the command line, with the built-in methods and
//! metrics (a program of your own passes its own to [`lume_cli::run`]).

fn main() -> std::process::ExitCode {
    lume_cli::run(
        lume_unlearn::Registry::builtin(),
        lume_bench::Metrics::builtin(),
    )
}
