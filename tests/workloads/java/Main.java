// The java workload: threads, file I/O, a child process and a loopback socket, each checked.
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.*;

public class Main {
  static void check(boolean cond, String what) {
    if (!cond) {
      System.err.println("FAIL: " + what);
      System.exit(1);
    }
  }

  public static void main(String[] args) throws Exception {
    // threads: an executor, plain threads, parallel streams, CompletableFuture
    ExecutorService pool = Executors.newFixedThreadPool(4);
    List<Future<Long>> parts = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      final int k = i;
      parts.add(pool.submit(() -> LongStream.range(0, 1_000_000).map(x -> x * k).sum()));
    }
    long sum = 0;
    for (Future<Long> f : parts) sum += f.get();
    check(sum == 28L * 499_999_500_000L, "executor sum " + sum);
    pool.shutdown();
    check(pool.awaitTermination(30, TimeUnit.SECONDS), "executor shutdown");
    AtomicLong counter = new AtomicLong();
    Thread[] ts = new Thread[4];
    for (int i = 0; i < ts.length; i++) {
      ts[i] = new Thread(() -> { for (int j = 0; j < 100_000; j++) counter.incrementAndGet(); });
      ts[i].start();
    }
    for (Thread t : ts) t.join();
    check(counter.get() == 400_000, "thread counter");
    long par = IntStream.range(0, 100_000).parallel().mapToLong(x -> x).sum();
    check(par == 4_999_950_000L, "parallel stream");
    check(CompletableFuture.supplyAsync(() -> 21).thenApply(x -> x * 2).get() == 42, "CompletableFuture");
    System.out.println("threads ok");

    // file I/O: NIO, streams, a directory walk, a temp file, a memory-mapped channel
    Path dir = Paths.get("out");
    Files.createDirectories(dir.resolve("sub"));
    for (int i = 0; i < 20; i++)
      Files.write(dir.resolve("sub/f" + i + ".txt"), ("line " + i + "\n").getBytes(StandardCharsets.UTF_8));
    try (BufferedWriter w = Files.newBufferedWriter(dir.resolve("big.txt"))) {
      for (int i = 0; i < 10000; i++) w.write("row " + i + "\n");
    }
    check(Files.readAllLines(dir.resolve("big.txt")).size() == 10000, "readAllLines");
    try (Stream<Path> s = Files.walk(dir)) {
      check(s.filter(Files::isRegularFile).count() == 21, "walk");
    }
    Files.move(dir.resolve("sub/f0.txt"), dir.resolve("moved.txt"), StandardCopyOption.ATOMIC_MOVE);
    Files.copy(dir.resolve("moved.txt"), dir.resolve("copied.txt"));
    check(new String(Files.readAllBytes(dir.resolve("copied.txt"))).equals("line 0\n"), "copy");
    Path tmp = Files.createTempFile("wl", ".tmp");
    check(tmp.toString().startsWith("/tmp/"), "temp file in /tmp: " + tmp);
    Files.delete(tmp);
    try (RandomAccessFile raf = new RandomAccessFile("out/mapped.bin", "rw")) {
      java.nio.MappedByteBuffer mb = raf.getChannel().map(java.nio.channels.FileChannel.MapMode.READ_WRITE, 0, 1 << 20);
      mb.put(0, (byte) 7);
      mb.force();
      try (java.nio.channels.FileLock lock = raf.getChannel().lock()) {
        check(lock.isValid(), "file lock");
      }
    }
    check(new File("out/mapped.bin").length() == 1 << 20, "mapped file size");
    System.out.println("file io ok");

    // a child process
    Process p = new ProcessBuilder("sh", "-c", "echo from-child; exit 3").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes()).trim();
    check(p.waitFor() == 3 && out.equals("from-child"), "child process: " + out);
    Process java = new ProcessBuilder("java", "-version").redirectErrorStream(true).start();
    check(java.waitFor() == 0, "java -version child");
    System.out.println("process ok");

    // a loopback server and client
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread srv = new Thread(() -> {
        try (Socket c = server.accept();
             BufferedReader r = new BufferedReader(new InputStreamReader(c.getInputStream()));
             PrintWriter w = new PrintWriter(c.getOutputStream(), true)) {
          w.println("echo:" + r.readLine());
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
      srv.start();
      try (Socket c = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
           PrintWriter w = new PrintWriter(c.getOutputStream(), true);
           BufferedReader r = new BufferedReader(new InputStreamReader(c.getInputStream()))) {
        w.println("ping");
        check("echo:ping".equals(r.readLine()), "loopback echo");
      }
      srv.join();
    }
    check(InetAddress.getByName("localhost").isLoopbackAddress(), "resolve localhost");
    System.out.println("network ok");

    // crypto and misc
    byte[] seed = new byte[32];
    new SecureRandom().nextBytes(seed);
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    check(md.digest("abc".getBytes()).length == 32, "sha256");
    check(Runtime.getRuntime().availableProcessors() >= 1, "availableProcessors");
    System.out.println("misc ok");
  }
}
