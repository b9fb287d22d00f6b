//! Parsing one line into a [`Command`]. Pure (no I/O, no broker) and total: any bytes give
//! a command, `None` (a blank line) or an INVALID_REQUEST error — never a panic.
//!
//! Grammar (tokens are separated by one or more spaces; verbs are case-insensitive; a line
//! wrapped whole in double quotes is unwrapped first):
//!
//! ```text
//! PRODUCE <topic> <key> <value...>    value = everything after the one space past key
//! CONSUME <topic> <partition> <offset> [max]
//! TOPICS | CREATE <topic> [partitions] | DESCRIBE <topic> | OFFSETS <topic> <partition>
//! HELP | QUIT
//! ```

use super::error::TextError;
use super::escape;

/// Records CONSUME returns when no `max` is given.
pub const DEFAULT_CONSUME_MAX: usize = 100;
/// The most records one CONSUME returns; a larger `max` is lowered to this.
pub const CONSUME_MAX_CAP: usize = 10_000;

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Append one record; `key: None` is a null key (`-`).
    Produce {
        topic: String,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
    },
    /// Read up to `max` records from `offset`.
    Consume {
        topic: String,
        partition: i32,
        offset: i64,
        max: usize,
    },
    /// List topics.
    Topics,
    /// Create a topic; `None` partitions means the broker's `num.partitions`.
    Create {
        topic: String,
        partitions: Option<i32>,
    },
    /// A topic's id and each partition's offsets.
    Describe { topic: String },
    /// One partition's log start offset and high watermark.
    Offsets { topic: String, partition: i32 },
    /// The command summary.
    Help,
    /// Say BYE and close.
    Quit,
}

fn invalid(msg: impl Into<String>) -> TextError {
    TextError::InvalidRequest(msg.into())
}

/// Splits off the next space-delimited token: `(token, rest)`, where `rest` starts at the
/// space after the token (or is empty). Leading spaces are skipped.
fn token(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(' ');
    match s.find(' ') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// Every remaining token (for the commands whose arguments are all plain tokens).
fn tokens(s: &str) -> Vec<&str> {
    s.split(' ').filter(|t| !t.is_empty()).collect()
}

/// Parses one line (without its `\n` / `\r\n`). `Ok(None)` for a blank line.
pub fn parse(line: &[u8]) -> Result<Option<Command>, TextError> {
    let line = std::str::from_utf8(line).map_err(|e| {
        invalid(format!(
            "the line is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let line = match line.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(inner) => inner,
        None => line,
    };
    let (verb, rest) = token(line);
    if verb.is_empty() {
        return Ok(None);
    }
    let verb = verb.to_ascii_uppercase();
    let cmd = match verb.as_str() {
        "PRODUCE" => parse_produce(rest)?,
        "CONSUME" => match tokens(rest)[..] {
            [topic, partition, offset] => Command::Consume {
                topic: topic.to_string(),
                partition: partition_arg(partition)?,
                offset: offset_arg(offset)?,
                max: DEFAULT_CONSUME_MAX,
            },
            [topic, partition, offset, max] => Command::Consume {
                topic: topic.to_string(),
                partition: partition_arg(partition)?,
                offset: offset_arg(offset)?,
                max: max_arg(max)?,
            },
            _ => return Err(usage("CONSUME <topic> <partition> <offset> [max]")),
        },
        "TOPICS" => match tokens(rest)[..] {
            [] => Command::Topics,
            _ => return Err(usage("TOPICS")),
        },
        "CREATE" => match tokens(rest)[..] {
            [topic] => Command::Create {
                topic: topic.to_string(),
                partitions: None,
            },
            [topic, partitions] => Command::Create {
                topic: topic.to_string(),
                partitions: Some(partitions_arg(partitions)?),
            },
            _ => return Err(usage("CREATE <topic> [partitions]")),
        },
        "DESCRIBE" => match tokens(rest)[..] {
            [topic] => Command::Describe {
                topic: topic.to_string(),
            },
            _ => return Err(usage("DESCRIBE <topic>")),
        },
        "OFFSETS" => match tokens(rest)[..] {
            [topic, partition] => Command::Offsets {
                topic: topic.to_string(),
                partition: partition_arg(partition)?,
            },
            _ => return Err(usage("OFFSETS <topic> <partition>")),
        },
        "HELP" => match tokens(rest)[..] {
            [] => Command::Help,
            _ => return Err(usage("HELP")),
        },
        "QUIT" => match tokens(rest)[..] {
            [] => Command::Quit,
            _ => return Err(usage("QUIT")),
        },
        _ => {
            let shown: String = verb.chars().take(64).collect();
            return Err(invalid(format!("unknown command '{shown}' (try HELP)")));
        }
    };
    Ok(Some(cmd))
}

fn usage(form: &str) -> TextError {
    invalid(format!("usage: {form}"))
}

fn parse_produce(rest: &str) -> Result<Command, TextError> {
    const FORM: &str = "PRODUCE <topic> <key> <value>";
    let (topic, rest) = token(rest);
    let (key, rest) = token(rest);
    // exactly one space separates key and value; further spaces belong to the value
    let Some(value) = rest.strip_prefix(' ') else {
        return Err(usage(FORM));
    };
    if topic.is_empty() || key.is_empty() {
        return Err(usage(FORM));
    }
    let key = escape::unescape_key(key).map_err(|e| invalid(e.to_string()))?;
    Ok(Command::Produce {
        topic: topic.to_string(),
        key,
        value: value.as_bytes().to_vec(),
    })
}

fn partition_arg(s: &str) -> Result<i32, TextError> {
    s.parse()
        .map_err(|_| invalid(format!("partition '{}' is not a number", clip(s))))
}

fn offset_arg(s: &str) -> Result<i64, TextError> {
    s.parse()
        .map_err(|_| invalid(format!("offset '{}' is not a number", clip(s))))
}

/// A positive count of records; any larger than the cap (however many digits) is the cap.
fn max_arg(s: &str) -> Result<usize, TextError> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || s.bytes().all(|b| b == b'0') {
        return Err(invalid(format!(
            "max '{}' is not a positive number",
            clip(s)
        )));
    }
    Ok(s.parse::<usize>()
        .map_or(CONSUME_MAX_CAP, |n| n.min(CONSUME_MAX_CAP)))
}

/// A partition count: a number (else INVALID_REQUEST) that is at least 1 and fits an
/// `i32` (else INVALID_PARTITIONS, as CreateTopics answers).
fn partitions_arg(s: &str) -> Result<i32, TextError> {
    let n: i128 = s.parse().map_err(|_| {
        invalid(format!(
            "number of partitions '{}' is not a number",
            clip(s)
        ))
    })?;
    match i32::try_from(n) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(TextError::InvalidPartitions(clip(s))),
    }
}

/// An argument echoed in an error, cut to a readable length.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).expect("parses").expect("not blank")
    }

    fn err(line: &[u8]) -> String {
        parse(line).expect_err("an error").to_line()
    }

    #[test]
    fn produce_keeps_the_value_verbatim() {
        assert_eq!(
            ok("PRODUCE Payments key1 HelloWorld"),
            Command::Produce {
                topic: "Payments".into(),
                key: Some(b"key1".to_vec()),
                value: b"HelloWorld".to_vec()
            }
        );
        assert_eq!(
            ok("produce t - hello  big   world "),
            Command::Produce {
                topic: "t".into(),
                key: None,
                value: b"hello  big   world ".to_vec()
            }
        );
        // exactly one separating space: the rest, even spaces, is the value
        assert_eq!(
            ok("PRODUCE t k  two"),
            Command::Produce {
                topic: "t".into(),
                key: Some(b"k".to_vec()),
                value: b" two".to_vec()
            }
        );
        assert_eq!(
            ok("PRODUCE t k "),
            Command::Produce {
                topic: "t".into(),
                key: Some(b"k".to_vec()),
                value: Vec::new()
            }
        );
        assert_eq!(
            ok("PRODUCE t a\\sb\\- v\\n"),
            Command::Produce {
                topic: "t".into(),
                key: Some(b"a b-".to_vec()),
                value: b"v\\n".to_vec()
            }
        );
        assert_eq!(
            ok("PRODUCE t \\- v"),
            Command::Produce {
                topic: "t".into(),
                key: Some(b"-".to_vec()),
                value: b"v".to_vec()
            }
        );
    }

    #[test]
    fn quoted_lines_and_case() {
        assert_eq!(
            ok("\"PRODUCE Payments key1 HelloWorld\""),
            ok("PRODUCE Payments key1 HelloWorld")
        );
        assert_eq!(ok("\"topics\""), Command::Topics);
        assert_eq!(ok("HeLp"), Command::Help);
        assert_eq!(ok("  quit  "), Command::Quit);
        assert_eq!(parse(b"").expect("blank"), None);
        assert_eq!(parse(b"   ").expect("blank"), None);
        assert_eq!(parse(b"\"\"").expect("blank"), None);
        // one quote alone is not a wrapped line
        assert_eq!(
            err(b"\"TOPICS"),
            "ERR INVALID_REQUEST unknown command '\"TOPICS' (try HELP)\n"
        );
    }

    #[test]
    fn consume_arguments() {
        assert_eq!(
            ok("CONSUME t 1 5"),
            Command::Consume {
                topic: "t".into(),
                partition: 1,
                offset: 5,
                max: 100
            }
        );
        assert_eq!(
            ok("consume t 0 0 7"),
            Command::Consume {
                topic: "t".into(),
                partition: 0,
                offset: 0,
                max: 7
            }
        );
        let Command::Consume { max, .. } = ok("CONSUME t 0 0 99999999999999999999999") else {
            panic!("consume");
        };
        assert_eq!(max, CONSUME_MAX_CAP);
        assert_eq!(
            err(b"CONSUME t x 0"),
            "ERR INVALID_REQUEST partition 'x' is not a number\n"
        );
        assert_eq!(
            err(b"CONSUME t 0 zero"),
            "ERR INVALID_REQUEST offset 'zero' is not a number\n"
        );
        assert_eq!(
            err(b"CONSUME t 0 0 0"),
            "ERR INVALID_REQUEST max '0' is not a positive number\n"
        );
        assert_eq!(
            err(b"CONSUME t 0"),
            "ERR INVALID_REQUEST usage: CONSUME <topic> <partition> <offset> [max]\n"
        );
    }

    #[test]
    fn admin_commands() {
        assert_eq!(
            ok("CREATE t"),
            Command::Create {
                topic: "t".into(),
                partitions: None
            }
        );
        assert_eq!(
            ok("CREATE t 3"),
            Command::Create {
                topic: "t".into(),
                partitions: Some(3)
            }
        );
        assert_eq!(
            err(b"CREATE t 0"),
            "ERR INVALID_PARTITIONS invalid number of partitions 0\n"
        );
        assert_eq!(
            err(b"CREATE t 99999999999"),
            "ERR INVALID_PARTITIONS invalid number of partitions 99999999999\n"
        );
        assert_eq!(
            err(b"CREATE t many"),
            "ERR INVALID_REQUEST number of partitions 'many' is not a number\n"
        );
        assert_eq!(ok("DESCRIBE t"), Command::Describe { topic: "t".into() });
        assert_eq!(
            ok("OFFSETS t 2"),
            Command::Offsets {
                topic: "t".into(),
                partition: 2
            }
        );
        assert_eq!(err(b"TOPICS x"), "ERR INVALID_REQUEST usage: TOPICS\n");
        assert_eq!(
            err(b"DESCRIBE"),
            "ERR INVALID_REQUEST usage: DESCRIBE <topic>\n"
        );
    }

    #[test]
    fn bad_lines_are_invalid_requests() {
        assert_eq!(
            err(b"FLY away"),
            "ERR INVALID_REQUEST unknown command 'FLY' (try HELP)\n"
        );
        assert_eq!(
            err(b"PRODUCE t k"),
            "ERR INVALID_REQUEST usage: PRODUCE <topic> <key> <value>\n"
        );
        assert_eq!(
            err(b"PRODUCE t k\\q v"),
            "ERR INVALID_REQUEST unknown escape '\\q' in key\n"
        );
        assert_eq!(
            err(b"TOPICS \xff"),
            "ERR INVALID_REQUEST the line is not valid UTF-8 (at byte 7)\n"
        );
    }

    proptest::proptest! {
        /// Arbitrary bytes after every verb: a command, a blank or an error, never a panic.
        #[test]
        fn no_input_panics(
            verb in 0usize..9,
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
            spice in proptest::collection::vec(
                proptest::sample::select(vec![" ", "\\", "\\x", "-", "\"", "0", "-1", "é"]),
                0..6,
            ),
        ) {
            let verbs = ["PRODUCE ", "consume ", "CREATE ", "DESCRIBE ", "OFFSETS ",
                         "TOPICS", "\"PRODUCE t ", "", "QUIT "];
            let mut line = verbs[verb].as_bytes().to_vec();
            for s in spice {
                line.extend_from_slice(s.as_bytes());
            }
            line.extend_from_slice(&tail);
            let _ = parse(&line);
        }
    }
}
