package imgforge_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	imgforge "github.com/imgforge/imgforge/clients/go"
	pb "github.com/imgforge/imgforge/clients/go/imgforgev1"
	"github.com/imgforge/imgforge/clients/go/signing"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// startServer runs the real imgforge binary (IMGFORGE_BIN, or target/debug/imgforge of this
// repository) on port 0 and returns its gRPC address, read from its JSON start-up log line.
func startServer(t *testing.T) string {
	t.Helper()
	return startServerWith(t, "")
}

// startServerWith is startServer with a configuration file holding config (TOML).
func startServerWith(t *testing.T, config string) string {
	t.Helper()
	bin := os.Getenv("IMGFORGE_BIN")
	if bin == "" {
		// GOPATH mode runs the tests through a symlink; the repository is where it points.
		wd, _ := os.Getwd()
		if real, err := filepath.EvalSymlinks(wd); err == nil {
			wd = real
		}
		bin = filepath.Join(wd, "..", "..", "target", "debug", "imgforge")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("imgforge binary %s not found (cargo build, or set IMGFORGE_BIN): %v", bin, err)
	}
	args := []string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}
	if config != "" {
		path := filepath.Join(t.TempDir(), "imgforge.toml")
		if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"IMGFORGE__BLOB_STORE__PATH="+t.TempDir(),
		"IMGFORGE__TELEMETRY__LOG_FORMAT=json",
		"RUST_LOG=info",
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		sent := false
		for scanner.Scan() {
			var entry struct {
				Fields map[string]interface{} `json:"fields"`
			}
			if !sent && json.Unmarshal(scanner.Bytes(), &entry) == nil {
				if addr, ok := entry.Fields["grpc_addr"].(string); ok {
					found <- addr
					sent = true
				}
			}
		}
		if !sent {
			close(found)
		}
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			t.Fatal("the server exited before logging its address")
		}
		return addr
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not log its gRPC address within 60 s")
	}
	return ""
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.Dial(addr, append([]grpc.DialOption{grpc.WithInsecure()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func photo(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestResizeAFileThroughASignedConnection(t *testing.T) {
	addr := startServer(t)
	creds := signing.Credentials{Key: "ak_test", Secret: "sk_test", User: "go-test"}
	conn := dial(t, addr, grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()))
	path := filepath.Join(t.TempDir(), "photo.bin")
	if err := os.WriteFile(path, photo(t, 640, 480), 0o600); err != nil {
		t.Fatal(err)
	}
	input, err := imgforge.ImageInput(path)
	if err != nil {
		t.Fatal(err)
	}
	maxDim := uint32(320)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reply, err := pb.NewUtilityServiceClient(conn).Resize(ctx, &pb.ResizeRequest{Image: input, MaxDim: &maxDim})
	if err != nil {
		t.Fatal(err)
	}
	if reply.OriginalWidth != 640 || reply.OriginalHeight != 480 || reply.OriginalFormat != pb.ImageFormat_IMAGE_FORMAT_PNG {
		t.Fatalf("original %dx%d %s", reply.OriginalWidth, reply.OriginalHeight, reply.OriginalFormat)
	}
	out, err := png.Decode(bytes.NewReader(reply.Image.GetData()))
	if err != nil {
		t.Fatalf("result is not a PNG: %v", err)
	}
	if b := out.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
		t.Fatalf("result %v", b)
	}
}

func TestUploadThenConvertByUploadID(t *testing.T) {
	conn := dial(t, startServer(t))
	utility := pb.NewUtilityServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	upload, err := utility.UploadImage(ctx, &pb.UploadImageRequest{Image: imgforge.BytesInput(photo(t, 64, 48))})
	if err != nil {
		t.Fatal(err)
	}
	if upload.Width != 64 || upload.Height != 48 || upload.UploadId == "" {
		t.Fatalf("upload %v", upload)
	}
	reply, err := utility.ConvertToPng(ctx, &pb.ConvertToPngRequest{
		Image: &pb.ImageInput{Source: &pb.ImageInput_UploadId{UploadId: upload.UploadId}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reply.Images) != 1 || reply.Images[0].Width != 64 {
		t.Fatalf("converted %v", reply.Images)
	}
}

func TestBadInputIsAClearError(t *testing.T) {
	conn := dial(t, startServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pb.NewUtilityServiceClient(conn).Resize(ctx, &pb.ResizeRequest{Image: imgforge.BytesInput([]byte("not an image"))})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("err = %v", err)
	}
	if _, err := imgforge.ImageInput(filepath.Join(t.TempDir(), "missing.jpg")); err == nil || !strings.Contains(err.Error(), "missing.jpg") {
		t.Fatalf("a missing file: %v", err)
	}
}

// Until a generation backend is configured the stream is refused with a status that says
// so; GenerateCover passes that status on instead of hanging or inventing events.
func TestGenerateCoverWithoutABackendIsAClearError(t *testing.T) {
	conn := dial(t, startServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := 0
	_, err := imgforge.GenerateCover(ctx, pb.NewCoverServiceClient(conn),
		&pb.GenerateCoverRequest{Gender: pb.Gender_GENDER_MALE, Age: "age_25_30"},
		func(*pb.GenerateCoverResponse) { events++ })
	code := status.Code(err)
	if code != codes.Unimplemented && code != codes.FailedPrecondition {
		t.Fatalf("err = %v", err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "cover") {
		t.Fatalf("message does not say what is missing: %q", msg)
	}
	if events != 0 {
		t.Fatalf("%d events before the refusal", events)
	}
}
