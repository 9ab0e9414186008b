package imgforge_test

import (
	"bufio"
	"bytes"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The examples, built and run as a user runs them (README, "Clients"), against the real server.

// buildExample compiles ./examples/<name> into a temporary directory (go run would hide the
// example's own exit status behind its own).
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, "./examples/"+name)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/%s: %v\n%s", name, err, out)
	}
	return bin
}

// openAIImagesURL is the base URL of the OpenAI images emulator of the Python tests:
// IMGFORGE_TEST_OPENAI_IMAGES_URL when scripts/check_clients.sh started it, else one this
// test starts (python3 clients/python/tests/openai_images_emulator.py).
func openAIImagesURL(t *testing.T) string {
	t.Helper()
	if url := os.Getenv("IMGFORGE_TEST_OPENAI_IMAGES_URL"); url != "" {
		return url
	}
	wd, _ := os.Getwd()
	if real, err := filepath.EvalSymlinks(wd); err == nil {
		wd = real
	}
	script := filepath.Join(wd, "..", "python", "tests", "openai_images_emulator.py")
	cmd := exec.Command("python3", script)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		if os.Getenv("IMGFORGE_REQUIRE_ALL") == "1" {
			t.Fatalf("cannot start the OpenAI images emulator: %v", err)
		}
		t.Skipf("skipped: cannot start the OpenAI images emulator (python3 %s): %v", script, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		first, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(first)
	}()
	select {
	case url := <-line:
		if !strings.HasPrefix(url, "http://") {
			t.Fatalf("the emulator did not print its URL (got %q)", url)
		}
		return url
	case <-time.After(30 * time.Second):
		t.Fatal("the emulator did not print its URL within 30 s")
	}
	return ""
}

func TestResizeExample(t *testing.T) {
	addr := startServer(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "photo.png"), filepath.Join(dir, "small.png")
	if err := os.WriteFile(in, photo(t, 800, 400), 0o644); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(buildExample(t, "resize"), "-addr", addr, "-in", in, "-out", out, "-max-dim", "200")
	if log, err := run.CombinedOutput(); err != nil {
		t.Fatalf("resize example: %v\n%s", err, log)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width != 200 || cfg.Height != 100 {
		t.Fatalf("result %dx%d, %v; want a 200x100 PNG", cfg.Width, cfg.Height, err)
	}
}

func TestCoverExampleStreamsACover(t *testing.T) {
	config := fmt.Sprintf("[providers.openai_images]\nbase_url = %q\napi_key = %q\nstream = false\n",
		openAIImagesURL(t), "sk-emulator")
	addr := startServerWith(t, config)
	out := filepath.Join(t.TempDir(), "cover.png")
	run := exec.Command(buildExample(t, "cover"), "-addr", addr, "-out", out)
	logged, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("cover example: %v\n%s", err, logged)
	}
	// Each log line is "<date> <time> <message>": the event kinds in order, then the file.
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(string(logged)), "\n") {
		if fields := strings.Fields(line); len(fields) >= 3 {
			kinds = append(kinds, strings.TrimSuffix(fields[2], ","))
		}
	}
	want := []string{"queued", "running", "completed", "cover"}
	next := 0
	for _, kind := range kinds {
		if next < len(want) && kind == want[next] {
			next++
		}
	}
	if next != len(want) || kinds[0] != "queued" || kinds[len(kinds)-1] != "cover" {
		t.Fatalf("events %v, want queued, running..., completed, then the file\n%s", kinds, logged)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width == 0 || cfg.Height == 0 {
		t.Fatalf("the cover is not a PNG: %v", err)
	}
	if !strings.Contains(string(logged), fmt.Sprintf("completed %dx%d", cfg.Width, cfg.Height)) {
		t.Fatalf("the completed event does not describe the file (%dx%d)\n%s", cfg.Width, cfg.Height, logged)
	}
}
