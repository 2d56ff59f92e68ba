//! The help text, made from [`FLAGS`]: `--help` lists every flag by
//! section with the prose around them; `help TOPIC` (or `plan --help`,
//! `-c add -h`, `-d --help`) shows one command's usage, the flags it
//! takes and examples. The prose and the examples live here; what a flag
//! is and does lives in the table.

use super::flags::{Flag, Section, Uses, FLAGS};
use super::rules::op_of;
use super::tokens::{Given, Sub};
use super::{err, suggest, ConfigError};
use crate::config::HelpTopic;
use crate::route::Op;

/// Help rows start their text at this column.
const COLUMN: usize = 27;
/// Help lines end before this column.
const WIDTH: usize = 79;

/// One command's help.
struct Topic {
    topic: HelpTopic,
    name: &'static str,
    /// The commands whose flags it lists.
    uses: Uses,
    summary: &'static str,
    usage: &'static [&'static str],
    examples: &'static [&'static str],
}

const GLOBAL: &str = "vpc-router [-r REGION] [-v VPC]";

static TOPICS: [Topic; 6] = [
    Topic {
        topic: HelpTopic::Add,
        name: "add",
        uses: Uses::ADD,
        summary: "point the CIDR at the router's network interface in every route table \
                  of the VPC (creates or replaces; idempotent).",
        usage: &["-c add  --CIDR CIDR --ip IP [options]"],
        examples: &[
            "vpc-router -r us-east-1 -v vpc-350d6a51 -c add --CIDR 10.55.0.0/16 --ip 10.33.20.142",
            "vpc-router -c add --CIDR 2001:db8::/56 --ip 10.33.20.142 --route-table rtb-0a1b2c3d --dry-run",
        ],
    },
    Topic {
        topic: HelpTopic::Show,
        name: "show",
        uses: Uses::SHOW,
        summary: "report the route for the CIDR in every route table of the VPC. Exit 0 \
                  when it is in every table, 1 when it is missing from some.",
        usage: &["-c show --CIDR CIDR [options]"],
        examples: &[
            "vpc-router -r us-east-1 -v vpc-350d6a51 -c show --CIDR 10.55.0.0/16",
            "vpc-router -c show --CIDR 10.55.0.0/16 -o json",
        ],
    },
    Topic {
        topic: HelpTopic::Del,
        name: "del",
        uses: Uses::DEL,
        summary: "delete the route for the CIDR from every route table of the VPC. Exit 1 \
                  when some table had none.",
        usage: &["-c del  --CIDR CIDR [options]"],
        examples: &[
            "vpc-router -r us-east-1 -v vpc-350d6a51 -c del --CIDR 10.55.0.0/16 --dry-run",
            "vpc-router -c del --CIDR 10.55.0.0/16 --route-table rtb-0a1b2c3d",
        ],
    },
    Topic {
        topic: HelpTopic::Plan,
        name: "plan",
        uses: Uses::PLAN,
        summary: "print what would change in which table to match the spec (a diff); \
                  change nothing. Exit 0 in sync, 1 when there are changes to make.",
        usage: &["plan -f SPEC [options]"],
        examples: &[
            "vpc-router -r us-east-1 -v vpc-350d6a51 plan -f spec.json",
            "vpc-router plan -f spec.json --state-dir /var/lib/vpc-router --prune -o json",
        ],
    },
    Topic {
        topic: HelpTopic::Apply,
        name: "apply",
        uses: Uses::APPLY,
        summary: "make every table match the spec, once. Exit 0 when done, 3 (4: network) \
                  if some change failed.",
        usage: &["apply -f SPEC [options]"],
        examples: &[
            "vpc-router -r us-east-1 -v vpc-350d6a51 apply -f spec.json",
            "vpc-router apply -f spec.json --state-dir /var/lib/vpc-router --route-table-tag vpc-router=managed",
        ],
    },
    Topic {
        topic: HelpTopic::Daemon,
        name: "daemon",
        uses: Uses::DAEMONS,
        summary: "serve the HTTP API (POST, GET, DELETE /route; GET /, /healthz, /metrics) \
                  instead of running one command; with -m, also keep every table matching \
                  a route spec, with health checks and failover.",
        usage: &[
            "-d [-a ADDRESS] [-p PORT] [options]",
            "-d -m configfile -f SPEC --state-dir DIR [options]",
            "-d -m http --state-dir DIR [options]",
        ],
        examples: &[
            "vpc-router -r us-east-1 -v vpc-350d6a51 -d",
            "vpc-router -d -a 0.0.0.0 --auth-token-file /etc/vpc-router/token",
            "vpc-router -d -m configfile -f /etc/vpc-router/spec.json --state-dir /var/lib/vpc-router --health tcp --failback",
            "curl -X POST http://127.0.0.1:33289/route -d '{\"dst_cidr\": \"10.55.0.0/16\", \"router_ip\": \"10.33.20.142\"}'",
        ],
    },
];

/// The help topics' names, in order.
pub fn topic_names() -> impl Iterator<Item = &'static str> {
    TOPICS.iter().map(|t| t.name)
}

/// What help was asked for: the topic named after `help`, else the
/// command the rest of the line asks for, else (`None`) everything.
pub fn topic(g: &Given) -> Result<Option<HelpTopic>, ConfigError> {
    if let Some(Some(name)) = &g.help_word {
        return match TOPICS.iter().find(|t| t.name == name) {
            Some(t) => Ok(Some(t.topic)),
            None => {
                let names: Vec<&str> = topic_names().collect();
                let hint = suggest::hint_words(name, &names);
                Err(err(
                    "help",
                    format!(
                        "unknown topic '{name}'; {hint}the topics are {}",
                        names.join(", ")
                    ),
                ))
            }
        };
    }
    Ok(match g.sub {
        Some(Sub::Plan) => Some(HelpTopic::Plan),
        Some(Sub::Apply) => Some(HelpTopic::Apply),
        None if g.has("daemon") => Some(HelpTopic::Daemon),
        None => match g.one("cmd").and_then(op_of) {
            Some(Op::Add) => Some(HelpTopic::Add),
            Some(Op::Show) => Some(HelpTopic::Show),
            Some(Op::Del) => Some(HelpTopic::Del),
            None => None,
        },
    })
}

/// The help for a topic, or (`None`) the full help.
pub fn help(topic: Option<HelpTopic>) -> String {
    match topic.and_then(|t| TOPICS.iter().find(|x| x.topic == t)) {
        Some(t) => topic_help(t),
        None => full_help(),
    }
}

fn topic_help(t: &Topic) -> String {
    let mut out = paragraph("", &format!("vpc-router {}: {}", t.name, t.summary));
    out.push_str("\nUSAGE\n");
    for u in t.usage {
        out.push_str(&format!("  {GLOBAL} {u}\n"));
    }
    for section in Section::ALL {
        let rows: Vec<&Flag> = FLAGS
            .iter()
            .filter(|f| f.section == section && f.goes_with.intersects(t.uses))
            .collect();
        if !rows.is_empty() {
            out.push_str(&format!("\n{}\n", section.title()));
            for f in rows {
                out.push_str(&row(&f.synopsis(), f.help));
            }
        }
    }
    out.push_str("\nEXAMPLES\n");
    for e in t.examples {
        out.push_str(&format!("  {e}\n"));
    }
    out.push_str("\nEvery command, its flags and the exit codes: vpc-router --help\n");
    out
}

fn full_help() -> String {
    let mut out = String::from(HEADER);
    out.push_str("\nUSAGE\n");
    for t in &TOPICS {
        for u in t.usage {
            out.push_str(&format!("  {GLOBAL} {u}\n"));
        }
    }
    out.push_str("\nEXAMPLES\n");
    for e in EXAMPLES {
        out.push_str(&format!("  {e}\n"));
    }
    out.push_str("\nHELP ON ONE COMMAND\n");
    let names: Vec<&str> = topic_names().collect();
    out.push_str(&row(
        &format!("help {}", names.join("|")),
        "usage, flags and examples; or plan --help, -d -h",
    ));
    for section in Section::ALL {
        out.push_str(&format!("\n{}\n", section.title()));
        out.push_str(&intro(section));
        for f in FLAGS.iter().filter(|f| f.section == section) {
            out.push_str(&row(&f.synopsis(), f.help));
        }
        out.push_str(&outro(section));
    }
    out.push_str(EXIT_CODES);
    out
}

const HEADER: &str = "\
vpc-router: set, show and delete a route (a destination CIDR and the EC2
instance that should receive its packets) in every route table of a VPC.
";

const EXAMPLES: &[&str] = &[
    "vpc-router -r us-east-1 -v vpc-350d6a51 -c add  --CIDR 10.55.0.0/16 --ip 10.33.20.142",
    "vpc-router -r us-east-1 -v vpc-350d6a51 -c show --CIDR 10.55.0.0/16",
    "vpc-router -r us-east-1 -v vpc-350d6a51 -c del  --CIDR 10.55.0.0/16 --dry-run",
    "vpc-router -r us-east-1 -v vpc-350d6a51 -d",
    "curl -X POST http://127.0.0.1:33289/route -d '{\"dst_cidr\": \"10.55.0.0/16\", \"router_ip\": \"10.33.20.142\"}'",
];

const EXIT_CODES: &str = "
EXIT CODES
  0  success (for show: the route is in every table)
  1  the route is missing from at least one table (show, del)
  2  usage error or invalid input (bad argument, bad endpoint URL or key
     in the environment, malformed ~/.aws file, IP not in the VPC,
     unknown route table, no region or VPC)
  3  AWS API error (credentials, permissions, not found, throttled
     beyond retries), in at least one table
  4  network error: EC2 or a credentials endpoint could not be reached
  5  refused: a route vpc-router does not own (gateway, propagated, local)
     is at the CIDR in some table; see --force
";

/// What `--help` says in a section before its flags.
fn intro(section: Section) -> String {
    let summary = |topic: HelpTopic| {
        TOPICS
            .iter()
            .find(|t| t.topic == topic)
            .map_or("", |t| t.summary)
    };
    match section {
        Section::Spec => {
            row("plan -f SPEC", summary(HelpTopic::Plan))
                + &row("apply -f SPEC", summary(HelpTopic::Apply))
        }
        Section::SpecDaemon => {
            paragraph("  ", "The daemon keeps the tables matching a spec with -m:")
                + &row(
                    "-d -m configfile -f SPEC --state-dir DIR",
                    "watch SPEC; apply each valid change within about a second \
                     (a broken edit is logged and ignored)",
                )
                + &row(
                    "-d -m http --state-dir DIR",
                    "the spec comes from POST /route_spec and is kept in DIR; \
                     POST/DELETE /route edit one entry",
                )
        }
        Section::Behaviour => {
            row(
                "completions bash|zsh|fish",
                "print a shell completion script, made from this flag table",
            ) + &row(
                "man",
                "print the man page (roff), made from this flag table",
            )
        }
        _ => String::new(),
    }
}

/// What `--help` says in a section after its flags.
fn outro(section: Section) -> String {
    let text = match section {
        Section::Spec => "Global flags may come before or after plan/apply.",
        Section::SpecDaemon => {
            "--state-dir is required with -m; --prune, --ignore-routes, --route-limit, \
             --fix-source-dest-check, --route-table and --route-table-tag apply as for apply."
        }
        Section::Daemon => {
            "SIGTERM or SIGINT stops the daemon: it finishes the requests in flight and \
             exits 0 (1 if some were still running after 10 seconds)."
        }
        Section::Aws => {
            "AWS_MAX_ATTEMPTS sets the attempts per EC2 call (default 5); AWS_CA_BUNDLE a \
             PEM file of CAs to trust instead of the built-in roots."
        }
        Section::Behaviour => {
            "Command lines of vpc-router 1.x work too: each 1.x spelling is noted on stderr \
             with the one to use instead (vpc-router man lists them)."
        }
        _ => return String::new(),
    };
    paragraph("  ", text)
}

/// One help row: the left column, then `text` wrapped from [`COLUMN`] (on
/// the next line when the left column is too wide).
fn row(left: &str, text: &str) -> String {
    let mut out = format!("  {left}");
    if out.len() + 2 > COLUMN {
        out.push('\n');
        out.push_str(&" ".repeat(COLUMN));
    } else {
        out.push_str(&" ".repeat(COLUMN - out.len()));
    }
    let indent = format!("\n{}", " ".repeat(COLUMN));
    out.push_str(&wrap(text, WIDTH - COLUMN).join(&indent));
    out.push('\n');
    out
}

/// `text` wrapped to [`WIDTH`], each line starting with `indent`.
fn paragraph(indent: &str, text: &str) -> String {
    wrap(text, WIDTH - indent.len())
        .iter()
        .map(|line| format!("{indent}{line}\n"))
        .collect()
}

/// Words into lines of at most `width` characters (a longer word gets a
/// line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_wrap_at_the_column_and_width() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap("", 4), Vec::<String>::new());
        assert_eq!(
            row("-x, --xy", "short"),
            format!("  -x, --xy{}short\n", " ".repeat(17))
        );
        let long = row("    --fix-source-dest-check", "text");
        assert_eq!(
            long,
            format!("      --fix-source-dest-check\n{}text\n", " ".repeat(27))
        );
        for line in help(None).lines() {
            // The examples and usage are single commands, never wrapped.
            if !line.contains("vpc-router ") && !line.starts_with("  curl") {
                assert!(line.chars().count() <= WIDTH, "too long: {line}");
            }
        }
    }

    #[test]
    fn every_topic_is_reachable_and_distinct() {
        for t in &TOPICS {
            let text = help(Some(t.topic));
            assert!(
                text.starts_with(&format!("vpc-router {}: ", t.name)),
                "{text}"
            );
            assert!(text.contains("USAGE") && text.contains("EXAMPLES"));
        }
    }
}
