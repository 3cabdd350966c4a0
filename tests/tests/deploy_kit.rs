//! Issue 18's deploy kit (`deploy/`) against the binaries it deploys: every `CRONY_*` name in it
//! is a real setting, ports, data dir and stop timeouts agree with the defaults `--help`
//! prints, the YAML files and the Dockerfile have the expected shape, `systemd-analyze verify`
//! accepts the units, and kubernetes-validate (PyPI, in a venv under target/) the manifests.

#[path = "deploy_kit/files.rs"]
mod files;

use files::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crony_tests::process::workspace_binary;
use serde_norway::Value;

#[test]
fn every_setting_named_in_deploy_is_a_real_one() {
    let real = real_settings();
    let mut unknown = Vec::new();
    for (rel, text) in deploy_files() {
        for (n, line) in text.lines().enumerate() {
            let names = crony_names(line).into_iter().map(|(_, name)| name);
            let names = names.filter(|name| !real.contains(name));
            unknown.extend(names.map(|name| format!("deploy/{rel}:{}: {name}", n + 1)));
        }
    }
    let unknown = unknown.join("\n");
    assert!(unknown.is_empty(), "not in any --help [env:]:\n{unknown}");
}

#[test]
fn ports_and_paths_agree_with_the_defaults() {
    let (scheduler, agent) = (help("crony-scheduler"), help("crony-agent"));
    let http = port_of(&default_of(&scheduler, "--http-addr"));
    let grpc = port_of(&default_of(&scheduler, "--grpc-addr"));
    let agent_grpc = port_of(&default_of(&agent, "--agent-grpc-addr"));
    let metrics = port_of(&default_of(&agent, "--agent-metrics-addr"));
    let grace = secs(&default_of(&agent, "--shutdown-grace-secs"));
    let floor = grace + SPOOL_FLUSH_SECS;

    // Wherever deploy/ sets an address, it keeps the default port that probes and EXPOSE use.
    for (setting, port) in [
        ("CRONY_HTTP_ADDR", http),
        ("CRONY_GRPC_ADDR", grpc),
        ("CRONY_AGENT_GRPC_ADDR", agent_grpc),
        ("CRONY_AGENT_ADVERTISE_ADDR", agent_grpc),
        ("CRONY_AGENT_METRICS_ADDR", metrics),
    ] {
        for (rel, value) in setting_values(setting) {
            assert_eq!(port_of(&value), port, "deploy/{rel}: {setting}={value}");
        }
    }

    let stages = dockerfile_stages();
    let readyz = format!("127.0.0.1:{http}/readyz");
    let healthz = format!("127.0.0.1:{metrics}/healthz");
    let images = [
        ("scheduler", [http, grpc], readyz),
        ("agent", [agent_grpc, metrics], healthz),
    ];
    for (stage, ports, check) in images {
        let exposed = args_of(&stages[stage], "EXPOSE");
        let exposed: BTreeSet<u64> = exposed.split(' ').map(port_of).collect();
        assert_eq!(exposed, ports.into(), "EXPOSE of the {stage} image");
        let health = args_of(&stages[stage], "HEALTHCHECK");
        assert!(health.contains(&check), "{stage}: {check} not in {health}");
    }

    // One agent data dir, set on every platform, and the volumes are there.
    let dirs = setting_values("CRONY_AGENT_DATA_DIR");
    let dir = dirs.first().expect("CRONY_AGENT_DATA_DIR is set").1.clone();
    let same = dirs.iter().all(|(_, d)| *d == dir);
    assert!(same, "data dirs differ: {dirs:?}");
    let platforms: BTreeSet<&str> = dirs.iter().map(|(r, _)| word(r, false)).collect();
    let all = ["compose", "docker", "kubernetes", "systemd"];
    assert_eq!(platforms, all.into(), "{dirs:?}");
    let agent_unit = lines(&read("systemd/crony-agent.service"));
    let state = format!("/var/lib/{}", args_of(&agent_unit, "StateDirectory"));
    assert_eq!(state, dir, "StateDirectory= of crony-agent.service");
    let volume = args_of(&stages["agent"], "VOLUME");
    let ok = volume.contains(&format!("\"{dir}\""));
    assert!(ok, "agent VOLUME {volume}");
    let compose = &yaml_docs("compose/compose.yaml")[0];
    for n in 1..=3 {
        let service = &compose["services"][format!("agent-{n}").as_str()];
        let volumes = strs(&service["volumes"]);
        let mounted = volumes.iter().any(|m| m.ends_with(&format!(":{dir}")));
        assert!(mounted, "compose agent-{n} mounts nothing at {dir}");
        let stop = secs(
            service["stop_grace_period"]
                .as_str()
                .expect("stop_grace_period"),
        );
        assert!(stop > floor, "agent-{n} stop_grace_period {stop}s");
    }

    // Stopping leaves the agent its grace and the spool flush.
    let timeout = secs(&args_of(&agent_unit, "TimeoutStopSec"));
    assert!(timeout > floor, "TimeoutStopSec {timeout}s ≤ {floor}s");
    let sts = first("kubernetes/agent.yaml", "StatefulSet");
    let term = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64();
    let ok = term.is_some_and(|t| t > floor);
    assert!(ok, "terminationGracePeriodSeconds {term:?} ≤ {floor}");

    let c = container(&sts);
    let ports = [agent_grpc, metrics];
    assert_eq!(container_ports(c), ports.into(), "agent ports");
    assert_eq!(probe(c, "readinessProbe"), ("/healthz", metrics), "agent");
    let none = c["livenessProbe"].is_null();
    assert!(none, "a liveness restart kills running jobs");
    let claim = &sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"];
    let mounts = seq(&c["volumeMounts"]);
    let mounted = mounts
        .iter()
        .any(|m| m["name"] == *claim && m["mountPath"] == *dir);
    assert!(mounted, "the StatefulSet's claim is not mounted at {dir}");

    let deployment = first("kubernetes/scheduler.yaml", "Deployment");
    let c = container(&deployment);
    assert_eq!(container_ports(c), [http, grpc].into(), "scheduler ports");
    assert_eq!(probe(c, "readinessProbe"), ("/readyz", http), "scheduler");
    assert_eq!(probe(c, "livenessProbe"), ("/healthz", http), "scheduler");
    check_nginx(http, compose);
}

/// nginx (deploy/nginx/crony.conf, which compose mounts) proxies to the schedulers' HTTP port,
/// listens on the port compose publishes, and is mounted where its context fits.
fn check_nginx(http: u64, compose: &Value) {
    let lines = lines(&read("nginx/crony.conf").replace(';', " "));
    let servers = args_of(&lines, "server");
    let upstreams: Vec<&str> = servers.split(' ').filter(|w| w.contains(':')).collect();
    assert!(!upstreams.is_empty(), "no `server host:port;` upstream");
    let bad: Vec<&&str> = upstreams.iter().filter(|u| port_of(u) != http).collect();
    assert!(bad.is_empty(), "nginx upstreams {bad:?} are not on :{http}");
    // Compose mounts it unchanged: its upstreams are the compose schedulers.
    let hosts: BTreeSet<&str> = upstreams
        .iter()
        .filter_map(|u| u.rsplit_once(':'))
        .map(|h| h.0)
        .collect();
    let mut known = BTreeSet::new();
    for name in ["scheduler-1", "scheduler-2"] {
        let nets = compose["services"][name]["networks"]
            .as_mapping()
            .into_iter()
            .flatten();
        let names: Vec<&str> = nets
            .filter_map(|(_, n)| n["ipv4_address"].as_str())
            .chain([name])
            .collect();
        assert!(
            names.iter().any(|n| hosts.contains(n)),
            "no upstream in {hosts:?} is {names:?}"
        );
        known.extend(names);
    }
    assert!(
        hosts.is_subset(&known),
        "upstreams {hosts:?} not in compose ({known:?})"
    );
    let listens = args_of(&lines, "listen");
    let nginx = &compose["services"]["nginx"];
    for inside in strs(&nginx["ports"]).into_iter().map(port_of) {
        let inside = inside.to_string();
        let ok = listens
            .split(' ')
            .any(|l| l.rsplit(':').next() == Some(&inside));
        assert!(ok, "nginx listens on {listens}, not {inside}");
    }
    let volumes = strs(&nginx["volumes"]);
    let mount = volumes.iter().find(|v| v.contains("crony.conf"));
    let target = mount
        .and_then(|m| m.split(':').nth(1))
        .expect("a crony.conf mount");
    // A whole nginx.conf (with `events`) replaces nginx's; a server block goes to conf.d/.
    let whole = lines.iter().any(|l| l.starts_with("events"));
    let dir = if whole {
        "/etc/nginx/nginx.conf"
    } else {
        "/etc/nginx/conf.d/"
    };
    assert!(target.starts_with(dir), "crony.conf mounted at {target}");
}

#[test]
fn files_parse() {
    let files = deploy_files().into_iter().map(|(rel, _)| rel);
    let yamls: Vec<String> = files
        .filter(|r| r.ends_with(".yaml") || r.ends_with(".yml"))
        .collect();
    assert!(yamls.len() >= 5, "compose and kubernetes YAML: {yamls:?}");
    for rel in &yamls {
        assert!(!yaml_docs(rel).is_empty(), "deploy/{rel}: no document");
    }

    let compose = &yaml_docs("compose/compose.yaml")[0];
    let services = compose["services"].as_mapping().expect("compose services");
    let names: BTreeSet<&str> = services.keys().filter_map(Value::as_str).collect();
    let expected = "etcd mariadb scheduler-1 scheduler-2 nginx agent-1 agent-2 agent-3";
    let expected: BTreeSet<&str> = expected.split(' ').collect();
    assert_eq!(names, expected, "compose services");
    let mut agent_volumes = BTreeSet::new();
    for (name, service) in services {
        let name = name.as_str().unwrap_or("");
        let deps = service["depends_on"].as_mapping().into_iter().flatten();
        for (dep, how) in deps {
            assert_eq!(
                how["condition"], "service_healthy",
                "compose {name} on {dep:?}"
            );
        }
        let secrets = strs(&service["secrets"]);
        for (key, value) in service["environment"].as_mapping().into_iter().flatten() {
            let (key, value) = (key.as_str().unwrap_or(""), value.as_str().unwrap_or(""));
            let secret = value.strip_prefix("/run/secrets/").unwrap_or("");
            let ok = !key.ends_with("_FILE") || secrets.contains(&secret);
            assert!(ok, "compose {name}: {key}={value}, secrets {secrets:?}");
        }
        if name.starts_with("agent-") {
            let volume = word(strs(&service["volumes"]).first().unwrap_or(&""), false);
            let declared = compose["volumes"].as_mapping().expect("named volumes");
            let declared = declared.contains_key(volume);
            assert!(declared, "agent volume {volume:?} is not a named volume");
            assert!(agent_volumes.insert(volume), "{volume} is shared by agents");
        }
    }

    let stages = dockerfile_stages();
    for target in ["scheduler", "agent"] {
        let stage = stages.get(target).expect(target);
        let user = args_of(stage, "USER");
        let last = word(user.rsplit(' ').next().unwrap_or(""), false);
        let root = ["", "root", "0"].contains(&last);
        assert!(!root, "target {target} runs as {user:?}");
        for word in ["HEALTHCHECK", "ENTRYPOINT"] {
            let has = !args_of(stage, word).is_empty();
            assert!(has, "target {target} has no {word}");
        }
    }

    for env in ["systemd/scheduler.env", "systemd/agent.env"] {
        for (n, line) in read(env).lines().enumerate().filter(|(_, l)| is_content(l)) {
            let key = line.split_once('=').map(|(k, _)| k).unwrap_or("");
            let ok = !key.is_empty() && word(key, true) == key;
            assert!(ok, "deploy/{env}:{}: not NAME=value: {line}", n + 1);
        }
    }
}

#[test]
fn systemd_units_verify() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    let why = "systemd-analyze not found: install the Debian package systemd";
    assert!(analyze.exists(), "{why}");
    let dir = tempfile::tempdir().expect("temp dir");
    let etc = dir.path().join("etc/crony");
    std::fs::create_dir_all(&etc).expect("etc dir");
    let mut units = Vec::new();
    for unit in UNITS {
        let binary = unit.trim_end_matches(".service");
        let built = workspace_binary(&built(binary)).display().to_string();
        let text = read(&format!("systemd/{unit}"));
        // Every /etc/crony/ file the unit names (environment file, credentials) exists here.
        for (at, _) in text.match_indices("/etc/crony/") {
            let name = word(&text[at + 11..], false);
            if !name.is_empty() {
                std::fs::write(etc.join(name), "").expect("a stand-in file");
            }
        }
        let text = text.replace(&format!("/usr/local/bin/{binary}"), &built);
        units.push(dir.path().join(unit));
        let text = text.replace("/etc/crony/", &format!("{}/", etc.display()));
        std::fs::write(dir.path().join(unit), text).expect("unit copy");
    }
    let mut verify = Command::new(analyze);
    let (ok, output) = output_of(verify.args(["verify", "--man=no"]).args(&units));
    // Only lines about these units count (not other units' or the machine's warnings).
    let ours = output.lines().any(|l| UNITS.iter().any(|u| l.contains(u)));
    assert!(ok && !ours, "systemd-analyze verify:\n{output}");
}

#[test]
fn kubernetes_manifests_validate() {
    let venv = PathBuf::from(TARGET).join("kubernetes-validate-venv");
    let validate = venv.join("bin/kubernetes-validate");
    if !validate.exists() {
        let (ok, out) = output_of(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        assert!(ok, "python3 -m venv failed (python3-venv?):\n{out}");
        let mut pip = Command::new("timeout");
        pip.arg("600")
            .arg(venv.join("bin/pip"))
            .args(["install", "--quiet"]);
        let bounded = "--disable-pip-version-check --timeout 60 --retries 2";
        pip.args(bounded.split(' '));
        let (ok, out) = output_of(pip.arg("kubernetes-validate==1.37.0"));
        assert!(ok, "pip install kubernetes-validate failed (PyPI?):\n{out}");
    }
    let dir = std::fs::read_dir(Path::new(DEPLOY).join("kubernetes")).expect("deploy/kubernetes");
    let mut manifests: Vec<PathBuf> = dir.map(|e| e.expect("entry").path()).collect();
    manifests.retain(|p| p.extension().is_some_and(|x| x == "yaml"));
    manifests.sort();
    assert!(manifests.len() >= 4, "too few manifests: {manifests:?}");
    let mut command = Command::new(&validate);
    let strict = command.args(["--strict", "--kubernetes-version", "1.31.0"]);
    let (ok, out) = output_of(strict.args(&manifests));
    let ok = ok && !out.contains("ERROR");
    assert!(ok, "kubernetes-validate --strict:\n{out}");
}

/// `deploy/prometheus/crony-rules.yml` is valid and its unit tests (`crony-rules.test.yml`:
/// every alert fires on what should fire it, naming the job by label) pass.
#[test]
fn prometheus_rules_check_and_pass_their_tests() {
    let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect(
            "promtool not found: install the Debian package prometheus (./scripts/dev test does)",
        );
    let dir = Path::new(DEPLOY).join("prometheus");
    let mut check = Command::new(promtool);
    let (ok, out) = output_of(
        check
            .current_dir(&dir)
            .args(["check", "rules", "crony-rules.yml"]),
    );
    assert!(ok, "promtool check rules:\n{out}");
    let mut test = Command::new(promtool);
    let (ok, out) =
        output_of(
            test.current_dir(&dir)
                .args(["test", "rules", "crony-rules.test.yml"]),
        );
    assert!(ok && out.contains("SUCCESS"), "promtool test rules:\n{out}");
}

/// The `crony_*` series a text names (histogram suffixes cut: `_bucket` is its histogram's).
fn series_named(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("crony_") {
        let name = word(&text[at..], false);
        let name = name.strip_suffix("_bucket").unwrap_or(name);
        names.insert(name.to_owned());
    }
    names
}

/// `deploy/grafana/crony.json`: every panel queries something, every query is valid PromQL
/// (promtool checks it as a recording rule), and every series the dashboard and the alert
/// rules name is one the binaries define.
#[test]
fn grafana_dashboard_and_rules_query_real_series() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("grafana/crony.json")).expect("crony.json is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "a dashboard of {} panels", panels.len());
    let mut exprs = Vec::new();
    for panel in panels {
        let targets = panel["targets"].as_array().map_or(&[][..], Vec::as_slice);
        assert!(
            !targets.is_empty(),
            "panel {} queries nothing",
            panel["title"]
        );
        exprs.extend(
            targets
                .iter()
                .map(|t| t["expr"].as_str().expect("expr").to_owned()),
        );
    }
    let sources = [
        "../scheduler/src/metrics.rs",
        "../agent/src/metrics.rs",
        "../common/src/build_info.rs",
    ];
    let defined: String = sources
        .iter()
        .map(|p| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).expect(p))
        .collect();
    let defined = series_named(&defined);
    let used = series_named(&(exprs.join("\n") + &read("prometheus/crony-rules.yml")));
    let unknown: Vec<&String> = used.difference(&defined).collect();
    assert!(unknown.is_empty(), "series no binary defines: {unknown:?}");
    // Each query as a recording rule: promtool parses them all.
    let rules: String = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("      - record: crony:panel_{i}\n        expr: {e:?}\n"))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("panels.yml");
    std::fs::write(
        &file,
        format!("groups:\n  - name: panels\n    rules:\n{rules}"),
    )
    .expect("write");
    let (ok, out) = output_of(Command::new("promtool").args(["check", "rules"]).arg(&file));
    assert!(ok, "a dashboard query is not PromQL:\n{out}");
}
