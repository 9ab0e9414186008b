package signing

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	pb "github.com/imgforge/imgforge/clients/go/imgforgev1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// The worked examples of docs/signing.md.
var creds = Credentials{Key: "ak_test_2026", Secret: "sk_test_9f8e7d6c5b4a", User: "user-42"}

const (
	timestamp = int64(1767225600000)
	nonce     = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

func header(t *testing.T, headers []Header, name string) string {
	t.Helper()
	for _, h := range headers {
		if h.Name == name {
			return h.Value
		}
	}
	t.Fatalf("header %s missing from %v", name, headers)
	return ""
}

func TestRESTVector(t *testing.T) {
	body := []byte(`{"gender":"female","age":"25"}`)
	canonical, err := CanonicalString("post", "/v1/agent/cover", "b=2&a=x%20y&a=1&c", creds.Key, creds.User, timestamp, nonce,
		"d1a3c903e2577d86495ae8fe0e77a5f41d6712ed37f5c044ec457fc5bf472856")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"IMGFORGE-HMAC-SHA256-V1", "POST", "/v1/agent/cover", "a=1&a=x%20y&b=2&c=", "ak_test_2026", "user-42",
		"1767225600000", nonce, "d1a3c903e2577d86495ae8fe0e77a5f41d6712ed37f5c044ec457fc5bf472856",
	}, "\n")
	if canonical != want {
		t.Fatalf("canonical string\n%s\nwant\n%s", canonical, want)
	}
	headers, err := creds.Headers("post", "/v1/agent/cover", "b=2&a=x%20y&a=1&c", body, timestamp, nonce)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		HeaderKey:           "ak_test_2026",
		HeaderUser:          "user-42",
		HeaderTimestamp:     "1767225600000",
		HeaderNonce:         nonce,
		HeaderContentSHA256: "d1a3c903e2577d86495ae8fe0e77a5f41d6712ed37f5c044ec457fc5bf472856",
		HeaderSignature:     "0703ca08d075b0f444957050734e485f2dfc3ae4cb7d0caaeb6d32194b204b46",
	}
	for name, value := range checks {
		if got := header(t, headers, name); got != value {
			t.Errorf("%s = %s, want %s", name, got, value)
		}
	}
}

func TestGRPCVector(t *testing.T) {
	maxDim := uint32(512)
	req := &pb.ResizeRequest{
		Image:  &pb.ImageInput{Source: &pb.ImageInput_Url{Url: "https://example.com/photo.jpg"}},
		MaxDim: &maxDim,
	}
	body, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(body); got != "0a1f121d68747470733a2f2f6578616d706c652e636f6d2f70686f746f2e6a7067188004" {
		t.Fatalf("serialized request %s", got)
	}
	headers, err := creds.Headers("POST", "/imgforge.v1.UtilityService/Resize", "", body, timestamp, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if got := header(t, headers, HeaderContentSHA256); got != "05f4fdec777d2d4317c5cc6d4ef7e23bb65266bd0dffdc1689d6f3831fc2411e" {
		t.Errorf("body hash %s", got)
	}
	if got := header(t, headers, HeaderSignature); got != "6c6fdc9542a726d3354623889f404ac408dbd8a98004028dbfd384e0ba638072" {
		t.Errorf("signature %s", got)
	}
}

func TestQueryIsDecodedReencodedAndSorted(t *testing.T) {
	got, err := CanonicalQuery("z=%7e&a=b+c&a=%41&%E4%B8%AD=1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "%E4%B8%AD=1&a=A&a=b%20c&z=~"; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if _, err := CanonicalQuery("a=%zz"); err == nil {
		t.Fatal("a bad escape is refused")
	}
}

func TestMultiLineValuesAreRefused(t *testing.T) {
	bad := Credentials{Key: "k", Secret: "s", User: "a\nb"}
	if _, err := bad.Headers("POST", "/p", "", nil, timestamp, nonce); err == nil || !strings.Contains(err.Error(), "user") {
		t.Fatalf("err = %v", err)
	}
}

func TestContextAddsFreshSignedMetadata(t *testing.T) {
	req := &pb.ListCoverOptionsRequest{}
	ctx, err := creds.Context(context.Background(), "/imgforge.v1.CoverService/ListCoverOptions", req)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	for _, name := range []string{HeaderKey, HeaderUser, HeaderTimestamp, HeaderNonce, HeaderContentSHA256, HeaderSignature} {
		if len(md.Get(name)) != 1 {
			t.Errorf("metadata %s = %v", name, md.Get(name))
		}
	}
	if strings.Contains(creds.String(), creds.Secret) {
		t.Error("String() shows the secret")
	}
}
