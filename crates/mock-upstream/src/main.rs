//! `mock-upstream [--port N] [--key KEY] [--record] [--h2-max-streams N]`: serves the mock
//! provider APIs on 127.0.0.1 until SIGINT/SIGTERM. Prints `listening on URL`.

#![forbid(unsafe_code)]

use mock_upstream::{MockOptions, MockUpstream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut options = MockOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => options.port = args.next().ok_or("--port needs a value")?.parse()?,
            "--key" => options.api_key = Some(args.next().ok_or("--key needs a value")?),
            "--record" => options.record = true,
            "--h2-max-streams" => {
                let n = args.next().ok_or("--h2-max-streams needs a value")?;
                options.h2_max_streams = Some(n.parse()?);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mock = MockUpstream::start(options).await?;
    println!("listening on {}", mock.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    Ok(())
}
