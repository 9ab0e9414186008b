// Resizes a photo (a file or an http(s) URL) with imgforge and writes the result.
//
//	go run ./examples/resize -addr 127.0.0.1:50051 -in photo.jpg -out small.jpg -max-dim 512
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"time"

	imgforge "github.com/imgforge/imgforge/clients/go"
	pb "github.com/imgforge/imgforge/clients/go/imgforgev1"
	"github.com/imgforge/imgforge/clients/go/signing"
	"google.golang.org/grpc"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "imgforge gRPC address")
	in := flag.String("in", "", "photo: a file path or an http(s) URL")
	out := flag.String("out", "resized.img", "where to write the result")
	maxDim := flag.Uint("max-dim", 512, "longest side of the result, at most")
	flag.Parse()
	if *in == "" {
		log.Fatal("-in is required")
	}

	opts := []grpc.DialOption{grpc.WithInsecure()}
	// With IMGFORGE_KEY, IMGFORGE_SECRET and IMGFORGE_USER set, every call is signed.
	if key := os.Getenv("IMGFORGE_KEY"); key != "" {
		creds := signing.Credentials{Key: key, Secret: os.Getenv("IMGFORGE_SECRET"), User: os.Getenv("IMGFORGE_USER")}
		opts = append(opts, grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()))
	}
	conn, err := grpc.Dial(*addr, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	image, err := imgforge.ImageInput(*in)
	if err != nil {
		log.Fatal(err)
	}
	dim := uint32(*maxDim)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reply, err := pb.NewUtilityServiceClient(conn).Resize(ctx, &pb.ResizeRequest{Image: image, MaxDim: &dim},
		grpc.MaxCallRecvMsgSize(64<<20))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, reply.Image.GetData(), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("%dx%d %s -> %dx%d %s, written to %s", reply.OriginalWidth, reply.OriginalHeight,
		reply.OriginalFormat, reply.Image.Width, reply.Image.Height, reply.Image.MediaType, *out)
}
