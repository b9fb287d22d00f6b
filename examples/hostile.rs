//! Good clients' latency and the broker's memory with and without hostile clients (issue
//! #13, items 1-3), on a `rafka serve` child process. Run by `bench/hostile.sh`; the
//! bounded test of the same attack is `tests/hostile_clients.rs`, which asserts no
//! latency (timing has no place in CI asserts).
//!
//! ```text
//! hostile [--rafka PATH] [--records N] [--rate R] [--bulk-mib M] [--rounds K] [--attack-only]
//! ```
//!
//! Each round runs two variants, each on a fresh broker and data dir: `quiet` (a
//! librdkafka producer, acks=all, N records at R/s to one partition, and a consumer
//! tailing it from 127.0.0.1) and `attack` (the same while every hostile client of
//! `tests/support/hostile.rs` runs from 127.0.0.2 and 127.0.0.3: waves of abandoned long-poll fetches,
//! 3 connections pipelining fetches of M MiB of small batches and reading nothing, waves
//! of 50 idle sockets and trickled requests on both ports). Per variant it prints one
//! `RESULT` line: end-to-end latency p50/p99/max (produce timestamp in the payload to
//! receipt), records consumed, the broker's RSS when idle, its peak (VmHWM), and its RSS
//! 3 s after the hostile clients left. Every run is bounded: 120 s per variant.
//!
//! cargo run --release --example hostile -- --rafka target/release/rafka

#[path = "../tests/support/hostile.rs"]
mod hostile;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const ATTACKER_2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

struct Args {
    rafka: PathBuf,
    records: usize,
    rate: u32,
    bulk_mib: usize,
    rounds: usize,
    attack_only: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        rafka: PathBuf::from("target/release/rafka"),
        records: 3000,
        rate: 300,
        bulk_mib: 16,
        rounds: 1,
        attack_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rafka" => a.rafka = PathBuf::from(value()?),
            "--records" => a.records = value()?.parse()?,
            "--rate" => a.rate = value()?.parse()?,
            "--bulk-mib" => a.bulk_mib = value()?.parse()?,
            "--rounds" => a.rounds = value()?.parse()?,
            "--attack-only" => a.attack_only = true,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

async fn text_command(addr: SocketAddr, line: &str) -> anyhow::Result<String> {
    let mut s = BufReader::new(TcpStream::connect(addr).await?);
    s.get_mut().write_all(line.as_bytes()).await?;
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_line(&mut reply)).await??;
    Ok(reply)
}

/// One variant on a fresh broker: the good clients' run, and the broker's memory.
async fn variant(args: &Args, attack: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = hostile::BrokerProcess::start(
        &args.rafka,
        dir.path(),
        &[
            "-o",
            "max.connections=60",
            "-o",
            "max.connections.per.ip=20",
            "-o",
            "max.connections.per.ip.overrides=127.0.0.1:40",
            "-o",
            "connections.max.idle.ms=2000",
            "-o",
            "socket.request.receive.timeout.ms=1000",
        ],
    );
    for topic in ["bulk", "empty", "good"] {
        let r = text_command(broker.text, &format!("CREATE {topic} 1\n")).await?;
        if r != "OK\n" {
            bail!("CREATE {topic}: {r}");
        }
    }
    hostile::fill_small_batches(broker.kafka, "bulk", args.bulk_mib << 20, 1000).await;
    let (idle_kib, _) = broker.rss_kib().context("rss")?;
    let running = attack.then(|| {
        hostile::Attack::start(
            ATTACKER,
            ATTACKER_2,
            broker.kafka,
            broker.text,
            "bulk",
            "empty",
        )
    });
    if running.is_some() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (bootstrap, records, rate) = (broker.kafka, args.records, args.rate);
    let good = tokio::task::spawn_blocking(move || {
        hostile::good_clients(bootstrap, "good", records, rate, Duration::from_secs(120))
    })
    .await?;
    let (during_kib, _) = broker.rss_kib().context("rss")?;
    let stats = match running {
        Some(a) => Some(a.stop().await),
        None => None,
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (after_kib, peak_kib) = broker.rss_kib().context("rss")?;
    let status = tokio::task::spawn_blocking(move || broker.stop()).await?;
    println!(
        "RESULT variant={} consumed={}/{} e2e_p50_ms={:.1} e2e_p99_ms={:.1} e2e_max_ms={:.1} \
         rss_idle_mib={} rss_end_of_run_mib={} rss_peak_mib={} rss_after_mib={} clean_exit={}",
        if attack { "attack" } else { "quiet" },
        good.consumed,
        good.produced,
        good.quantile(0.5),
        good.quantile(0.99),
        good.quantile(1.0),
        idle_kib / 1024,
        during_kib / 1024,
        peak_kib / 1024,
        after_kib / 1024,
        status.is_some_and(|s| s.success()),
    );
    if let Some(s) = stats {
        println!(
            "ATTACK parked_fetches={} unread_fetches_sent={} idle_or_trickle_opened={} closed_by_broker={}",
            s.parked_fetches, s.unread_fetches, s.idle_opened, s.idle_closed
        );
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    for round in 1..=args.rounds {
        println!("# round {round}");
        if !args.attack_only {
            variant(&args, false).await?;
        }
        variant(&args, true).await?;
    }
    Ok(())
}
