//! Each isolation measure, shown from inside the sandbox.

use std::time::Duration;

use rlm_core::ReplConfig;
use rlm_repl_python::{PythonOptions, SandboxUser};

use crate::support::{exec, exec_ok, is_root, outcome, quick, repl, start};

#[tokio::test]
async fn the_isolation_report_matches_what_the_code_sees() {
    let mut r = repl().await;
    let iso = r.isolation().unwrap().clone();
    // /proc is the host's: /proc/self/stat shows the host's pids even inside a PID namespace.
    let seen = outcome(&mut r, "s = open('/proc/self/stat').read().rsplit(')', 1)[1].split()\nprint(open('/proc/self/stat').read().split()[0], s[2], s[3])").await;
    let (pid, group) = (iso.pid, iso.process_group);
    assert_eq!(
        seen,
        format!("{pid} {group} {group}"),
        "own session and process group"
    );
    if iso.pid_namespace {
        assert_eq!(
            outcome(&mut r, "import os\nprint(os.getpid())").await,
            "1",
            "init of its namespace"
        );
    }
    assert!(iso.python_version.starts_with('3'), "{iso:?}");
    if is_root() {
        assert!(
            iso.dropped_privileges && iso.uid == 65534 && iso.gid == 65534,
            "{iso:?}"
        );
        assert!(
            iso.network_namespace && iso.pid_namespace,
            "namespaces are available to root here: {iso:?}"
        );
        assert_eq!(
            outcome(&mut r, "import os\nprint(os.getgroups())").await,
            "[]"
        );
    } else {
        eprintln!("SKIPPED (not root): uid drop; namespaces: {iso:?}");
    }
}

#[tokio::test]
async fn the_environment_is_empty() {
    let mut r = repl().await;
    // CPython's C-locale coercion may add LC_CTYPE; nothing of the host's environment arrives.
    exec_ok(
        &mut r,
        "import os\nprint(sorted(k for k in os.environ if k != 'LC_CTYPE'))",
        "[]\n",
    )
    .await;
    exec_ok(
        &mut r,
        "print(repr(open('/proc/self/environ', 'rb').read()))",
        "b''\n",
    )
    .await;
    let host_environ = outcome(
        &mut r,
        &format!(
            "print(len(open('/proc/{}/environ', 'rb').read()))",
            std::process::id()
        ),
    )
    .await;
    if is_root() {
        assert!(
            host_environ.starts_with("PermissionError"),
            "{host_environ}"
        );
    }
}

#[tokio::test]
async fn the_working_directory_is_private_and_removed_with_the_session() {
    let mut r = repl().await;
    let work = r.work_dir().to_path_buf();
    exec_ok(
        &mut r,
        "import os\nprint(os.getcwd())",
        &format!("{}\n", work.display()),
    )
    .await;
    exec_ok(
        &mut r,
        "open('notes.txt', 'w').write('kept')\nprint(open('notes.txt').read())",
        "kept\n",
    )
    .await;
    assert!(work.join("notes.txt").exists());
    let session_dir = work.parent().unwrap().to_path_buf();
    if is_root() {
        // The code cannot list the session directory or touch the context's backing file.
        let listing = outcome(
            &mut r,
            &format!(
                "import os\nos.listdir({:?})",
                session_dir.join("values").to_string_lossy()
            ),
        )
        .await;
        assert!(listing.starts_with("PermissionError"), "{listing}");
    }
    drop(r);
    assert!(
        !session_dir.exists(),
        "{} is left behind",
        session_dir.display()
    );
}

#[tokio::test]
async fn rlimits_bound_files_descriptors_and_memory() {
    let options = PythonOptions {
        max_open_files: 32,
        max_file_size: 1 << 20,
        memory_limit: Some(128 << 20),
        ..PythonOptions::default()
    };
    let mut r = start(ReplConfig::default(), options).await;
    exec_ok(
        &mut r,
        "import resource as R\nprint(R.getrlimit(R.RLIMIT_NOFILE), R.getrlimit(R.RLIMIT_FSIZE), R.getrlimit(R.RLIMIT_CORE))",
        "(32, 32) (1048576, 1048576) (0, 0)\n",
    )
    .await;
    let fds = outcome(&mut r, "fs = [open('f%d' % i, 'w') for i in range(100)]").await;
    assert!(
        fds.starts_with("OSError: [Errno 24] Too many open files"),
        "{fds}"
    );
    let big = outcome(
        &mut r,
        "with open('big', 'wb') as f:\n    f.write(b'x' * (2 << 20))",
    )
    .await;
    assert_eq!(big, "OSError: [Errno 27] File too large");
    assert_eq!(
        outcome(&mut r, "x = 'a' * (256 << 20)").await,
        "MemoryError"
    );
    exec_ok(&mut r, "print('still here')", "still here\n").await;
}

#[tokio::test]
async fn the_cpu_time_limit_kills_a_busy_process() {
    let options = PythonOptions {
        cpu_time_limit: Some(Duration::from_secs(1)),
        ..PythonOptions::default()
    };
    let mut r = start(quick(10_000), options).await;
    let started = std::time::Instant::now();
    let out = exec(&mut r, "while True:\n    pass").await;
    let error = out.error.unwrap();
    assert!(
        error.contains("SIGXCPU") || error.contains("SIGKILL"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    exec_ok(&mut r, "print('fresh budget')", "fresh budget\n").await;
}

#[tokio::test]
async fn an_unprivileged_sandbox_cannot_raise_its_process_limit_or_regain_root() {
    if !is_root() {
        return eprintln!("SKIPPED (not root): RLIMIT_NPROC and the uid drop");
    }
    let options = PythonOptions {
        max_processes: 40,
        sandbox_user: Some(SandboxUser {
            uid: 3_998_000_000 + std::process::id() % 1000,
            gid: 65534,
        }),
        ..PythonOptions::default()
    };
    let mut r = start(ReplConfig::default(), options).await;
    exec_ok(
        &mut r,
        "import resource as R\nprint(R.getrlimit(R.RLIMIT_NPROC))",
        "(40, 40)\n",
    )
    .await;
    let raise = outcome(
        &mut r,
        "import resource as R\nR.setrlimit(R.RLIMIT_NPROC, (10**6, 10**6))",
    )
    .await;
    assert_eq!(raise, "ValueError: not allowed to raise maximum limit");
    assert!(
        outcome(&mut r, "import os\nos.setuid(0)")
            .await
            .starts_with("PermissionError")
    );
    // no_new_privs: set-uid binaries do not elevate.
    let su = outcome(&mut r, "import subprocess\nprint(subprocess.run(['su', '-c', 'id -u'], capture_output=True, stdin=subprocess.DEVNULL).returncode != 0)").await;
    assert!(su == "True" || su.starts_with("FileNotFoundError"), "{su}");
}

#[tokio::test]
async fn the_network_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut r = repl().await;
    if !r.isolation().unwrap().network_namespace {
        return eprintln!("SKIPPED: no network namespace here");
    }
    let connect = outcome(
        &mut r,
        &format!("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)"),
    )
    .await;
    assert_eq!(connect, "OSError: [Errno 101] Network is unreachable");
    exec_ok(
        &mut r,
        "import socket\nprint(socket.if_nameindex())",
        "[(1, 'lo')]\n",
    )
    .await;
    assert!(listener.accept().is_err());
}

#[tokio::test]
async fn the_host_can_turn_namespaces_off() {
    let options = PythonOptions {
        namespaces: false,
        ..PythonOptions::default()
    };
    let r = start(ReplConfig::default(), options).await;
    let iso = r.isolation().unwrap();
    assert!(!iso.network_namespace && !iso.pid_namespace, "{iso:?}");
}

#[tokio::test]
async fn the_interpreter_runs_where_the_sandbox_user_can_reach_it() {
    let mut r = repl().await;
    let python = r.isolation().unwrap().python.clone();
    assert!(python.is_absolute(), "{}", python.display());
    exec_ok(
        &mut r,
        "import sys\nprint(sys.flags.isolated, sys.flags.no_site, 'site' in sys.modules)",
        "1 1 False\n",
    )
    .await;
}

#[tokio::test]
async fn a_missing_interpreter_is_a_clear_backend_error() {
    let options = PythonOptions {
        python: Some("/nonexistent/python3".into()),
        ..PythonOptions::default()
    };
    let err = rlm_repl_python::PythonRepl::start(ReplConfig::default(), options)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, rlm_core::ReplError::Backend { .. }),
        "{err:?}"
    );
    assert!(
        text.contains("/nonexistent/python3") && text.contains("not found"),
        "{text}"
    );
    let options = PythonOptions {
        python: Some("no-such-python-for-rlm".into()),
        ..PythonOptions::default()
    };
    let err = rlm_repl_python::PythonReplFactory::with_options(options)
        .start(&ReplConfig::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("was not found on PATH"), "{err}");
    // The typed lookup names what was asked for; its text keeps the library's advice (a
    // program words it with its own flag, as `rlm --python` does).
    let options = PythonOptions {
        python: Some("/nonexistent/python3".into()),
        ..PythonOptions::default()
    };
    let err = rlm_repl_python::find_interpreter(&options)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        rlm_repl_python::InterpreterError::NotFound {
            requested: "/nonexistent/python3".into()
        }
    );
    assert!(
        err.to_string().contains("set PythonOptions::python"),
        "{err}"
    );
    let found = rlm_repl_python::find_interpreter(&PythonOptions::default()).await;
    assert!(found.is_ok_and(|p| p.is_absolute()));
}
