//! The README's walk-through, run as written: every command of the "Five minutes with the
//! marketplace simulator" block goes through bash in a fresh directory against the built
//! binaries, and every output line the README shows (but the ones it shortens with `…`) must
//! appear in what that command printed. A README that drifts from the tools fails here.

use std::path::Path;
use std::process::Command;

/// One `$ ` command of the block (continuation lines joined) and the output lines shown for it.
struct Step {
    command: String,
    expected: Vec<String>,
}

fn walkthrough() -> Vec<Step> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Five minutes with the marketplace simulator")
        .nth(1)
        .expect("the walk-through section");
    let block = section
        .split("```console\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("its console block");
    let mut steps: Vec<Step> = Vec::new();
    let mut continuing = false;
    for line in block.lines() {
        if continuing {
            let step = steps.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(line);
            continuing = line.ends_with('\\');
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: cmd.to_string(),
                expected: Vec::new(),
            });
            continuing = cmd.ends_with('\\');
        } else if !line.is_empty() && !line.starts_with('#') && !line.contains('…') {
            steps
                .last_mut()
                .expect("output after a command")
                .expected
                .push(line.to_string());
        }
    }
    steps
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What must match of an expected line: sizes and timings of backups vary, the counts do not.
fn stable_part(line: &str) -> &str {
    match line.find(" records") {
        Some(i) if line.contains(" kB") => &line[..i + " records".len()],
        _ => line,
    }
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    for tool in ["bash", "curl", "jq"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "the walk-through needs {tool} (CI installs it)");
    }
    let steps = walkthrough();
    assert!(steps.len() > 20, "only {} commands found", steps.len());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_licd")).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let mut script = String::from("trap 'kill $(jobs -p) 2>/dev/null' EXIT\n");
    for (i, step) in steps.iter().enumerate() {
        // The three lines that are about where things live: this test's binaries, directory
        // and free port instead of the repository's and 8080.
        let command = match step.command.as_str() {
            c if c.starts_with("export PATH=") => {
                format!("export PATH=\"{}:$PATH\"", bin_dir.display())
            }
            "ADDR=127.0.0.1:8080" => format!("ADDR={addr}"),
            c => c.to_string(),
        };
        script.push_str(&format!("echo '@@@ {i}'\n{command}\n"));
    }
    script.push_str("echo '@@@ end'\n");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("LICD_ADMIN_LISTEN", &admin)
        .env("LICD_ADMIN_URL", format!("http://{admin}"))
        .env_remove("LICD_ACCESS_KEY")
        .env_remove("LICD_ADMIN_TOKEN")
        .env_remove("LICD_DATA_DIR")
        .env_remove("LICD_KEYS_DIR")
        .env_remove("LICD_LISTEN")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("@@@ end"),
        "the walk-through stopped early:\n{text}"
    );
    for (i, step) in steps.iter().enumerate() {
        let printed = stdout
            .split(&format!("@@@ {i}\n"))
            .nth(1)
            .and_then(|rest| rest.split("@@@ ").next())
            .unwrap_or("");
        for line in &step.expected {
            let line = line.replace("127.0.0.1:8080", &addr);
            assert!(
                printed.contains(stable_part(&line)),
                "`{}` did not print {line:?}; it printed:\n{printed}\n(whole run:\n{text})",
                step.command
            );
        }
    }
}
