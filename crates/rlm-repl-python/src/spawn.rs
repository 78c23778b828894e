//! Starting, confining and killing the interpreter process: the only module with `unsafe` code.
//!
//! The confinement runs in a `pre_exec` hook, in the forked child before `execve`: a new session
//! (so the process group can be killed as one), new network and PID namespaces where allowed,
//! rlimits, the drop to an unprivileged uid/gid when the host is root, `PR_SET_NO_NEW_PRIVS`,
//! `PR_SET_PDEATHSIG` and close-on-exec for every inherited descriptor above 2. The hook may only
//! make async-signal-safe system calls: it allocates nothing, and reports failure as a raw OS
//! error.
//!
//! Processes are spawned from one long-lived thread ([`spawn`]): Linux sends the parent-death
//! signal when the *thread* that forked the child exits, so forking from a short-lived thread
//! (tokio's blocking pool retires idle threads) would kill the interpreter at a random time.
#![allow(unsafe_code)]

use std::io;
use std::sync::OnceLock;
use std::sync::mpsc;

use tokio::process::{Child, Command};

use crate::options::SandboxUser;

/// The limits and identity applied to the interpreter before it starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Jail {
    /// `RLIMIT_AS` in bytes (`None`: unlimited).
    pub(crate) address_space: Option<u64>,
    /// `RLIMIT_CPU` in seconds.
    pub(crate) cpu_seconds: Option<u64>,
    /// `RLIMIT_NOFILE`.
    pub(crate) open_files: u64,
    /// `RLIMIT_FSIZE` in bytes.
    pub(crate) file_size: u64,
    /// `RLIMIT_NPROC`, set only together with `user`.
    pub(crate) processes: u64,
    /// Drop to this uid/gid (the host must be root).
    pub(crate) user: Option<SandboxUser>,
    /// Try new network and PID namespaces (falling back to fewer, then none).
    pub(crate) namespaces: bool,
}

/// Whether this process runs with effective uid 0.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn rlimit(value: Option<u64>) -> libc::rlimit {
    let limit = value.map_or(libc::RLIM_INFINITY, |v| v as libc::rlim_t);
    libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    }
}

/// Installs the confinement hook on `cmd`.
pub(crate) fn confine(cmd: &mut Command, jail: Jail) {
    let root = is_root();
    let mut limits = vec![
        (libc::RLIMIT_AS, rlimit(jail.address_space)),
        (libc::RLIMIT_CPU, rlimit(jail.cpu_seconds)),
        (libc::RLIMIT_NOFILE, rlimit(Some(jail.open_files))),
        (libc::RLIMIT_FSIZE, rlimit(Some(jail.file_size))),
        (libc::RLIMIT_CORE, rlimit(Some(0))),
    ];
    let user = jail.user.filter(|_| root);
    if user.is_some() {
        limits.push((libc::RLIMIT_NPROC, rlimit(Some(jail.processes))));
    }
    let namespaces: [libc::c_int; 3] = match (jail.namespaces, root) {
        (false, _) => [0, 0, 0],
        (true, true) => [
            libc::CLONE_NEWNET | libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
            0,
        ],
        (true, false) => [
            libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWPID,
            libc::CLONE_NEWUSER | libc::CLONE_NEWNET,
            0,
        ],
    };
    // SAFETY: getpid has no preconditions and cannot fail.
    let parent = unsafe { libc::getpid() };
    let hook = move || -> io::Result<()> {
        // Runs in the forked child, before exec: only raw system calls, no allocation.
        // SAFETY: setsid has no memory-safety preconditions.
        if unsafe { libc::setsid() } == -1 {
            return Err(io::Error::last_os_error());
        }
        for flags in namespaces {
            // SAFETY: unshare only changes this (single-threaded) process's namespaces; a
            // refusal leaves it unchanged, and 0 always succeeds.
            if flags == 0 || unsafe { libc::unshare(flags) } == 0 {
                break;
            }
        }
        for (resource, limit) in &limits {
            // SAFETY: `limit` points to a valid rlimit for the duration of the call.
            if unsafe { libc::setrlimit(*resource, limit) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(user) = user {
            // SAFETY: plain credential changes of this process; a null list with size 0 is the
            // documented way to drop every supplementary group.
            unsafe {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(user.gid) != 0
                    || libc::setuid(user.uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        // SAFETY: prctl with these options only sets flags of this process. The parent-death
        // signal is set after the uid change, which would clear it.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the death signal was armed: do not run an orphan.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            // Close-on-exec for every descriptor above stderr that this process inherited
            // (std opens its own with O_CLOEXEC; C libraries might not). Best effort: kernels
            // older than 5.11 lack the flag.
            let _ = libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 4u32);
        }
        Ok(())
    };
    // SAFETY: the hook only makes async-signal-safe system calls and allocates nothing (the
    // vector it reads was built before the fork), as required between fork and exec.
    unsafe {
        cmd.pre_exec(hook);
    }
}

type Job = Box<dyn FnOnce() + Send>;

fn spawner() -> io::Result<&'static mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("rlm-python-spawner".to_string())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .map(|_| tx)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| io::Error::other(format!("could not start the spawner thread: {e}")))
}

/// Spawns `cmd` from the long-lived spawner thread, inside the caller's tokio runtime.
pub(crate) async fn spawn(mut cmd: Command) -> io::Result<Child> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| io::Error::other("the python backend must be used inside a tokio runtime"))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _runtime = handle.enter();
        if let Err(Ok(child)) = tx.send(cmd.spawn()) {
            // The caller went away while the process started: do not leave it running.
            if let Some(pid) = child.id() {
                kill_group(pid);
            }
        }
    });
    spawner()?
        .send(job)
        .map_err(|_| io::Error::other("the spawner thread has stopped"))?;
    rx.await
        .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
}

/// Sends `SIGKILL` to the process group `pgid` (the interpreter is its leader).
///
/// The caller must only pass the pid of a child it has not reaped yet, so the group id cannot
/// have been reused.
pub(crate) fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // Never 0 (our own group) or 1 (init): kill(-1) would signal every process.
    if pgid > 1 {
        // SAFETY: kill has no memory-safety preconditions; the group is ours (see above).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Sends `SIGUSR1` to the interpreter (it answers with the output printed so far).
pub(crate) fn request_salvage(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 1
    {
        // SAFETY: kill has no memory-safety preconditions; `pid` is the interpreter of a group
        // whose leader we have not reaped (the caller checks), so it is still ours.
        unsafe {
            libc::kill(pid, libc::SIGUSR1);
        }
    }
}

/// Raises the address-space limit of the running interpreter (needs `CAP_SYS_RESOURCE`, i.e.
/// root, to raise the hard limit).
pub(crate) fn set_address_space(pid: u32, bytes: u64) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    let limit = rlimit(Some(bytes));
    // SAFETY: `limit` is a valid rlimit; a null old-limit pointer is allowed.
    if unsafe { libc::prlimit(pid, libc::RLIMIT_AS, &limit, std::ptr::null_mut()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
