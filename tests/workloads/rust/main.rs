// The rustc workload: threads, std::fs, std::process::Command, channels and a loopback socket.
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() > 1 && args[1] == "child" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).unwrap();
        print!("child got {}", s);
        std::process::exit(9);
    }

    // threads: spawn/join, a barrier, a mutex, an rwlock, channels, scoped threads
    let counter = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(8));
    let shared = Arc::new(Mutex::new(HashMap::new()));
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (counter, barrier, shared, tx) = (counter.clone(), barrier.clone(), shared.clone(), tx.clone());
            thread::Builder::new()
                .name(format!("worker-{}", i))
                .stack_size(256 * 1024)
                .spawn(move || {
                    barrier.wait();
                    for _ in 0..100_000 {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    shared.lock().unwrap().insert(i, i * i);
                    tx.send(i).unwrap();
                })
                .unwrap()
        })
        .collect();
    drop(tx);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), 800_000);
    assert_eq!(rx.iter().count(), 8);
    assert_eq!(shared.lock().unwrap().len(), 8);
    let rw = RwLock::new(5);
    assert_eq!(*rw.read().unwrap(), 5);
    let mut data = vec![1u64; 1000];
    thread::scope(|s| {
        for chunk in data.chunks_mut(250) {
            s.spawn(move || chunk.iter_mut().for_each(|x| *x *= 2));
        }
    });
    assert_eq!(data.iter().sum::<u64>(), 2000);
    let t0 = Instant::now();
    thread::sleep(Duration::from_millis(5));
    assert!(t0.elapsed() >= Duration::from_millis(5));
    assert!(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() > 1_600_000_000);
    assert!(thread::available_parallelism().unwrap().get() >= 1);
    println!("threads ok");

    // std::fs
    fs::create_dir_all("out/sub").unwrap();
    for i in 0..10 {
        fs::write(format!("out/sub/f{}.txt", i), format!("line {}\n", i)).unwrap();
    }
    let mut f = fs::File::create("out/big.txt").unwrap();
    for i in 0..10_000 {
        writeln!(f, "row {}", i).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    let n = BufReader::new(fs::File::open("out/big.txt").unwrap()).lines().count();
    assert_eq!(n, 10_000);
    fs::rename("out/sub/f0.txt", "out/moved.txt").unwrap();
    fs::copy("out/moved.txt", "out/copied.txt").unwrap();
    std::os::unix::fs::symlink("moved.txt", "out/link").unwrap();
    assert_eq!(fs::read_to_string("out/link").unwrap(), "line 0\n");
    assert_eq!(fs::read_dir("out/sub").unwrap().count(), 9);
    let meta = fs::metadata("out/big.txt").unwrap();
    assert!(meta.len() > 50_000 && meta.modified().is_ok());
    let tmp = std::env::temp_dir().join("wl-rust");
    fs::create_dir_all(&tmp).unwrap();
    fs::remove_dir_all(&tmp).unwrap();
    fs::remove_dir_all("out/sub").unwrap();
    println!("fs ok");

    // std::process::Command: output, status, piped stdin, this binary again
    let out = Command::new("sh").arg("-c").arg("echo hi; exit 0").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    let st = Command::new("sh").args(["-c", "exit 3"]).status().unwrap();
    assert_eq!(st.code(), Some(3));
    let me = std::env::current_exe().unwrap();
    let mut child = Command::new(me).arg("child").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"data").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(9));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "child got data");
    println!("process ok");

    // a loopback tcp echo
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    server.join().unwrap();
    assert!(("localhost", 80).to_socket_addrs().unwrap().count() > 0);
    println!("net ok");
}
