fn main() -> std::process::ExitCode {
    hooktrail::cli::main()
}
