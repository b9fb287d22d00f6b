//! The status page at `/`: one server-rendered HTML document (inline CSS, inline SVG
//! sparklines, no JavaScript) of the cluster as this broker sees it: the cluster, the
//! brokers, every topic with its partitions, every group with its members and lag, and
//! the throughput over the last minutes. It refreshes itself every 10 s.
//!
//! Every name that comes from a client (topic, group, member, client id, host) goes
//! through [`Esc`]: group ids and client ids are any string a client likes.

use std::fmt::{self, Write};

use super::sampler::{Rates, SAMPLES, SAMPLE_EVERY};
use crate::broker::overview::{GroupRow, Overview, TopicRow};

/// HTML-escapes text for element content and quoted attribute values.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            let (plain, tail) = rest.split_at(i);
            f.write_str(plain)?;
            let mut chars = tail.chars();
            let entity = match chars.next() {
                Some('&') => "&amp;",
                Some('<') => "&lt;",
                Some('>') => "&gt;",
                Some('"') => "&quot;",
                _ => "&#39;",
            };
            f.write_str(entity)?;
            rest = chars.as_str();
        }
        f.write_str(rest)
    }
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}\
h3{font-size:1em;margin:1em 0 .3em}\
table{border-collapse:collapse;margin:.3em 0 .8em;background:#fff}\
th,td{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}\
th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.muted{color:#777}.warn{color:#a40}.ok{color:#070}\
.sparks{display:flex;flex-wrap:wrap;gap:1em}.spark{background:#fff;border:1px solid #ddd;padding:.4em}\
svg{display:block}code{font-size:.95em}";

/// The page, for an open broker. `not_ready`: why `/readyz` says 503, if it does.
pub fn render(o: &Overview, rates: &Rates, not_ready: Option<&str>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    // writing to a String cannot fail
    let _ = write_page(&mut out, o, rates, not_ready);
    out
}

/// The page while the logs are being recovered.
pub fn starting() -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\"><title>Rafka: starting</title>\
         <style>{STYLE}</style></head><body><h1>Rafka</h1>\
         <p class=\"warn\">Starting: recovering the logs.</p></body></html>\n"
    )
}

fn write_page(
    out: &mut String,
    o: &Overview,
    rates: &Rates,
    not_ready: Option<&str>,
) -> fmt::Result {
    write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"10\">\
         <title>Rafka: node {} of {}</title><style>{STYLE}</style></head><body>",
        o.node_id,
        Esc(&o.cluster_id)
    )?;
    out.push_str("<h1>Rafka</h1>");
    cluster(out, o, not_ready)?;
    throughput(out, rates)?;
    brokers(out, o)?;
    topics(out, &o.topics)?;
    groups(out, &o.groups)?;
    out.push_str(
        "<p class=\"muted\">Refreshes every 10 s. Also: <a href=\"/metrics\">/metrics</a>, \
         <a href=\"/healthz\">/healthz</a>, <a href=\"/readyz\">/readyz</a>.</p></body></html>\n",
    );
    Ok(())
}

fn cluster(out: &mut String, o: &Overview, not_ready: Option<&str>) -> fmt::Result {
    out.push_str("<section id=\"cluster\"><h2>Cluster</h2><table>");
    write!(
        out,
        "<tr><th>Cluster id</th><td><code>{}</code></td></tr>\
         <tr><th>This node</th><td>{}</td></tr><tr><th>Controller</th><td>",
        Esc(&o.cluster_id),
        o.node_id
    )?;
    match o.controller {
        Some(c) => write!(out, "{c}")?,
        None => out.push_str("<span class=\"warn\">none</span>"),
    }
    out.push_str("</td></tr><tr><th>Ready</th><td>");
    match not_ready {
        None => out.push_str("<span class=\"ok\">yes</span>"),
        Some(why) => write!(out, "<span class=\"warn\">no: {}</span>", Esc(why))?,
    }
    out.push_str("</td></tr></table></section>");
    Ok(())
}

fn brokers(out: &mut String, o: &Overview) -> fmt::Result {
    write!(
        out,
        "<section id=\"brokers\"><h2>Brokers ({})</h2><table>\
         <tr><th>Id</th><th>Host</th><th>Port</th><th>Rack</th></tr>",
        o.brokers.len()
    )?;
    for b in &o.brokers {
        let mark = if b.id == o.node_id {
            " (this node)"
        } else {
            ""
        };
        write!(
            out,
            "<tr><td class=\"n\">{}{mark}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            b.id,
            Esc(&b.host),
            b.port,
            Esc(b.rack.as_deref().unwrap_or(""))
        )?;
    }
    out.push_str("</table></section>");
    Ok(())
}

fn ids(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Bytes as B, KiB, MiB or GiB with one decimal.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {name}")
    }
}

fn topics(out: &mut String, topics: &[TopicRow]) -> fmt::Result {
    write!(
        out,
        "<section id=\"topics\"><h2>Topics ({})</h2>",
        topics.len()
    )?;
    if topics.is_empty() {
        out.push_str("<p class=\"muted\">No topics.</p>");
    }
    // the users' topics first, the internal ones after
    let (internal, own): (Vec<&TopicRow>, Vec<&TopicRow>) = topics.iter().partition(|t| t.internal);
    for t in own.into_iter().chain(internal) {
        let total: u64 = t
            .partitions
            .iter()
            .filter_map(|p| p.hosted.as_ref())
            .map(|h| h.size_bytes)
            .sum();
        write!(
            out,
            "<h3 id=\"topic-{0}\" class=\"topic\">{0}{1}</h3><p class=\"muted\">id <code>{2}</code>, \
             {3} partition(s), {4} here</p><table class=\"partitions\" data-topic=\"{0}\">\
             <tr><th>Partition</th><th>Leader</th><th>Epoch</th><th>Replicas</th><th>ISR</th>\
             <th>Log start</th><th>High watermark</th><th>Last stable</th><th>Log end</th>\
             <th>Size</th><th>Segments</th></tr>",
            Esc(&t.name),
            if t.internal { " <span class=\"muted\">(internal)</span>" } else { "" },
            t.id,
            t.partitions.len(),
            size(total)
        )?;
        for p in &t.partitions {
            let leader = p.leader.map_or_else(
                || "<span class=\"warn\">none</span>".to_string(),
                |l| l.to_string(),
            );
            let under = if p.isr.len() < p.replicas.len() {
                " class=\"warn\""
            } else {
                ""
            };
            write!(
                out,
                "<tr class=\"partition\"><td class=\"n\">{}</td><td class=\"n\">{leader}</td>\
                 <td class=\"n\">{}</td><td>{}</td><td{under}>{}</td>",
                p.partition,
                p.leader_epoch,
                ids(&p.replicas),
                ids(&p.isr)
            )?;
            match &p.hosted {
                Some(h) => write!(
                    out,
                    "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    h.log_start,
                    h.high_watermark,
                    h.last_stable,
                    h.log_end,
                    size(h.size_bytes),
                    h.segments
                )?,
                None => out.push_str("<td colspan=\"6\" class=\"muted\">not hosted here</td></tr>"),
            }
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
    Ok(())
}

fn groups(out: &mut String, groups: &[GroupRow]) -> fmt::Result {
    write!(
        out,
        "<section id=\"groups\"><h2>Groups ({})</h2>",
        groups.len()
    )?;
    if groups.is_empty() {
        out.push_str("<p class=\"muted\">No groups coordinated here.</p>");
    }
    for g in groups {
        let lag: i64 = g.offsets.iter().filter_map(|o| o.lag).sum();
        write!(
            out,
            "<h3 class=\"group\">{}</h3><p>state <b>{}</b>, protocol {} / {}, {} member(s), \
             total lag <b class=\"lag\">{lag}</b></p>",
            Esc(&g.group_id),
            Esc(&g.state),
            Esc(&g.protocol_type),
            Esc(&g.protocol),
            g.members.len()
        )?;
        if !g.members.is_empty() {
            out.push_str(
                "<table class=\"members\"><tr><th>Member</th><th>Instance</th><th>Client id</th>\
                 <th>Host</th><th>Assignment</th></tr>",
            );
            for m in &g.members {
                let assigned = m
                    .assignment
                    .iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| format!("{}-{p}", Esc(t))))
                    .collect::<Vec<_>>()
                    .join(", ");
                write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{assigned}</td></tr>",
                    Esc(&m.member_id),
                    Esc(m.instance_id.as_deref().unwrap_or("")),
                    Esc(&m.client_id),
                    Esc(&m.host)
                )?;
            }
            out.push_str("</table>");
        }
        if !g.offsets.is_empty() {
            out.push_str(
                "<table class=\"offsets\"><tr><th>Topic</th><th>Partition</th><th>Committed</th>\
                 <th>End</th><th>Lag</th></tr>",
            );
            for o in &g.offsets {
                let opt = |v: Option<i64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
                write!(
                    out,
                    "<tr class=\"offset\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td class=\"n lag\">{}</td></tr>",
                    Esc(&o.topic),
                    o.partition,
                    o.committed,
                    opt(o.end),
                    opt(o.lag)
                )?;
            }
            out.push_str("</table>");
        }
    }
    out.push_str("</section>");
    Ok(())
}

fn throughput(out: &mut String, r: &Rates) -> fmt::Result {
    let window = SAMPLE_EVERY.as_secs() * (SAMPLES as u64 - 1);
    write!(
        out,
        "<section id=\"throughput\"><h2>Throughput</h2><p class=\"muted\">Per second, sampled \
         every {} s over the last {} s (up to {window} s).</p><div class=\"sparks\">",
        SAMPLE_EVERY.as_secs(),
        r.span_secs
    )?;
    sparkline(out, "Bytes in", &r.bytes_in, true)?;
    sparkline(out, "Bytes out", &r.bytes_out, true)?;
    sparkline(out, "Records in", &r.records_in, false)?;
    sparkline(out, "Records out", &r.records_out, false)?;
    out.push_str("</div></section>");
    Ok(())
}

const SPARK_W: f64 = 240.0;
const SPARK_H: f64 = 40.0;

/// One inline SVG polyline of `values` (oldest first), scaled to its own maximum.
fn sparkline(out: &mut String, label: &str, values: &[f64], bytes: bool) -> fmt::Result {
    let show = |v: f64| {
        if bytes {
            format!("{}/s", size(v.round() as u64))
        } else {
            format!("{v:.1}/s")
        }
    };
    let last = values.last().copied().unwrap_or(0.0);
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    write!(
        out,
        "<div class=\"spark\"><b>{label}</b> {} <span class=\"muted\">(max {})</span>\
         <svg width=\"{SPARK_W}\" height=\"{SPARK_H}\" viewBox=\"0 0 {SPARK_W} {SPARK_H}\" \
         role=\"img\" aria-label=\"{label}\"><rect width=\"100%\" height=\"100%\" fill=\"#f4f6fa\"/>",
        show(last),
        show(max)
    )?;
    if values.len() < 2 {
        write!(
            out,
            "<text x=\"6\" y=\"24\" font-size=\"12\" fill=\"#777\">collecting samples</text>"
        )?;
    } else {
        let step = SPARK_W / (values.len() - 1) as f64;
        let scale = if max > 0.0 {
            (SPARK_H - 4.0) / max
        } else {
            0.0
        };
        out.push_str("<polyline fill=\"none\" stroke=\"#2a6fdb\" stroke-width=\"1.5\" points=\"");
        for (i, v) in values.iter().enumerate() {
            let x = i as f64 * step;
            let y = SPARK_H - 2.0 - v * scale;
            write!(out, "{x:.1},{y:.1} ")?;
        }
        out.push_str("\"/>");
    }
    out.push_str("</svg></div>");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::overview::{HostedRow, MemberRow, OffsetRow, PartitionRow};

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            Esc("<script>alert('x') & \"y\"</script>").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(Esc("plain-name_1.0").to_string(), "plain-name_1.0");
        assert_eq!(Esc("é<ü").to_string(), "é&lt;ü");
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB");
    }

    fn overview() -> Overview {
        Overview {
            node_id: 1,
            cluster_id: "c<1>".into(),
            controller: Some(1),
            brokers: Vec::new(),
            topics: vec![TopicRow {
                name: "orders".into(),
                id: uuid::Uuid::nil(),
                internal: false,
                partitions: vec![PartitionRow {
                    partition: 0,
                    leader: Some(1),
                    leader_epoch: 0,
                    replicas: vec![1],
                    isr: vec![1],
                    hosted: Some(HostedRow {
                        log_start: 0,
                        high_watermark: 7,
                        log_end: 7,
                        last_stable: 7,
                        size_bytes: 2048,
                        segments: 1,
                    }),
                }],
            }],
            groups: vec![GroupRow {
                group_id: "<script>alert(1)</script>".into(),
                state: "Stable".into(),
                protocol_type: "consumer".into(),
                protocol: "range".into(),
                members: vec![MemberRow {
                    member_id: "m-1".into(),
                    instance_id: None,
                    client_id: "c&c".into(),
                    host: "/127.0.0.1".into(),
                    assignment: vec![("orders".into(), vec![0])],
                }],
                offsets: vec![OffsetRow {
                    topic: "orders".into(),
                    partition: 0,
                    committed: 4,
                    end: Some(7),
                    lag: Some(3),
                }],
            }],
        }
    }

    #[test]
    fn the_page_shows_topics_and_groups_escaped() {
        let html = render(&overview(), &Rates::default(), None);
        assert!(html.contains("<h3 id=\"topic-orders\" class=\"topic\">orders"));
        assert!(html.contains("<td class=\"n\">7</td>"));
        assert!(html.contains("2.0 KiB"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("c&amp;c"));
        assert!(html.contains("total lag <b class=\"lag\">3</b>"));
        assert!(html.contains("c&lt;1&gt;"));
    }

    #[test]
    fn sparklines_draw_once_there_are_two_samples() {
        let mut out = String::new();
        sparkline(&mut out, "Bytes in", &[], true).expect("to a string");
        assert!(out.contains("collecting samples"));
        let mut out = String::new();
        sparkline(&mut out, "Records in", &[0.0, 5.0, 10.0], false).expect("to a string");
        assert!(out.contains("<polyline"));
        assert!(out.contains("0.0,38.0 120.0,20.0 240.0,2.0"));
    }
}
